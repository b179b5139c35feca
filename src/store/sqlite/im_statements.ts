/**
 * Prepared statements of the SQLite store's IM tables (schema version 2): conversation versions, dead
 * marks, kept messages, room timelines and blocks.
 *
 * @example
 * ```ts
 * const s = prepareImStatements(db);
 * s.blockPut.run(101, "bob", "mallory");
 * ```
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { ROWS_PER_INSERT } from "./statements.ts";

/** Columns of a conversation row (id, gen, conv, body). */
export const CONV_COLUMNS = 4;

/** The IM statements. */
export interface ImStatements {
  convInsert: StatementSync;
  /** {@linkcode ROWS_PER_INSERT} conversation rows at once. */
  convInsertMany: StatementSync;
  convMaxId: StatementSync;
  /** Delete the conversation rows of a JSON array of rowids. */
  convDelete: StatementSync;
  deadOf: StatementSync;
  deadPut: StatementSync;
  /** Delete one mark, only if it is still the one set by the event `mark_seq`. */
  deadDelete: StatementSync;
  deadDrop: StatementSync;
  messageInsert: StatementSync;
  /** (id, body) of a JSON array of message rowids. */
  messageBodies: StatementSync;
  messageBody: StatementSync;
  messageUpdate: StatementSync;
  /** The oldest kept messages (id, app, msgId, time). */
  messageOldest: StatementSync;
  messageDelete: StatementSync;
  headGet: StatementSync;
  headPut: StatementSync;
  positions: StatementSync;
  positionInsert: StatementSync;
  positionsTrim: StatementSync;
  /** Delete up to 1000 room positions older than a time. */
  positionsAged: StatementSync;
  blockPut: StatementSync;
  blockDelete: StatementSync;
}

/**
 * Prepare the IM statements on `db`.
 *
 * @example
 * ```ts
 * const s = prepareImStatements(db);
 * ```
 */
export function prepareImStatements(db: DatabaseSync): ImStatements {
  const p = (sql: string) => db.prepare(sql);
  return {
    convInsert: p("INSERT INTO conversations (id, gen, conv, body) VALUES (?, ?, ?, ?)"),
    convInsertMany: p(
      `INSERT INTO conversations (id, gen, conv, body) VALUES ${
        Array.from({ length: ROWS_PER_INSERT }, () => "(?, ?, ?, ?)").join(", ")
      }`,
    ),
    convMaxId: p("SELECT coalesce(max(id), 0) AS id FROM conversations"),
    convDelete: p("DELETE FROM conversations WHERE id IN (SELECT value FROM json_each(?))"),
    deadOf: p("SELECT msg_id AS msgId, msg_seq AS msgSeq, mark_seq AS markSeq FROM dead WHERE gen = ?"),
    deadPut: p("INSERT OR REPLACE INTO dead (gen, msg_id, msg_seq, mark_seq) VALUES (?, ?, ?, ?)"),
    deadDelete: p("DELETE FROM dead WHERE gen = ? AND msg_id = ? AND mark_seq = ?"),
    deadDrop: p("DELETE FROM dead WHERE gen = ?"),
    messageInsert: p("INSERT INTO messages (app, msg_id, time, body) VALUES (?, ?, ?, ?)"),
    messageBodies: p(
      "SELECT m.id AS id, m.body AS body FROM json_each(?) AS j JOIN messages AS m ON m.id = j.value",
    ),
    messageBody: p("SELECT body FROM messages WHERE id = ?"),
    messageUpdate: p("UPDATE messages SET body = ? WHERE id = ?"),
    messageOldest: p("SELECT id, app, msg_id AS msgId, time FROM messages ORDER BY id LIMIT ?"),
    messageDelete: p("DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))"),
    headGet: p("SELECT last_seq AS last FROM room_heads WHERE app = ? AND room = ?"),
    headPut: p(
      "INSERT INTO room_heads (app, room, last_seq) VALUES (?, ?, ?) " +
        "ON CONFLICT (app, room) DO UPDATE SET last_seq = excluded.last_seq",
    ),
    positions: p(
      "SELECT room_seq AS roomSeq, msg_id AS msgId, time FROM room_timeline WHERE app = ? AND room = ? " +
        "ORDER BY room_seq",
    ),
    positionInsert: p("INSERT INTO room_timeline (app, room, room_seq, msg_id, time) VALUES (?, ?, ?, ?, ?)"),
    positionsTrim: p("DELETE FROM room_timeline WHERE app = ? AND room = ? AND room_seq < ?"),
    positionsAged: p(
      "DELETE FROM room_timeline WHERE (app, room, room_seq) IN " +
        "(SELECT app, room, room_seq FROM room_timeline WHERE time < ? LIMIT 1000)",
    ),
    blockPut: p("INSERT OR IGNORE INTO blocks (app, user, other) VALUES (?, ?, ?)"),
    blockDelete: p("DELETE FROM blocks WHERE app = ? AND user = ? AND other = ?"),
  };
}
