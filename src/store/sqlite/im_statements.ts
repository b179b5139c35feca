/**
 * Prepared statements of the SQLite store's IM tables (schema versions 2 and 3): conversation versions, dead
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
  /** Insert a message unless its (app, msgId) is kept already (the first save wins). */
  messageInsert: StatementSync;
  /** Bodies of one app's msgIds (a JSON array), not older than a time: (app, ids, time). */
  messageBodies: StatementSync;
  /** (id, body) of one msgId of one app, not older than a time. */
  messageBody: StatementSync;
  messageUpdate: StatementSync;
  /** The oldest kept messages (id, time). */
  messageOldest: StatementSync;
  /** The time of the oldest kept message (rowid order is send order). */
  messageOldestTime: StatementSync;
  messageCount: StatementSync;
  messageDelete: StatementSync;
  headGet: StatementSync;
  headPut: StatementSync;
  /** A page of a room's kept positions, newest first: (app, room, before, above, oldest time, limit). */
  positionsPage: StatementSync;
  /** The roomSeq of a msgId among a room's kept positions: (app, room, msgId, above, oldest time). */
  positionOf: StatementSync;
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
    messageInsert: p("INSERT OR IGNORE INTO messages (app, msg_id, time, body) VALUES (?, ?, ?, ?)"),
    // `IN (subquery)`: a join on json_each made the planner scan the app's messages for each id
    messageBodies: p(
      "SELECT body FROM messages WHERE app = ? AND msg_id IN (SELECT value FROM json_each(?)) AND time >= ?",
    ),
    messageBody: p("SELECT id, body FROM messages WHERE app = ? AND msg_id = ? AND time >= ?"),
    messageUpdate: p("UPDATE messages SET body = ? WHERE id = ?"),
    messageOldest: p("SELECT id, time FROM messages ORDER BY id LIMIT ?"),
    messageOldestTime: p("SELECT time FROM messages ORDER BY id LIMIT 1"),
    messageCount: p("SELECT count(*) AS n FROM messages"),
    messageDelete: p("DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))"),
    headGet: p("SELECT last_seq AS last FROM room_heads WHERE app = ? AND room = ?"),
    headPut: p(
      "INSERT INTO room_heads (app, room, last_seq) VALUES (?, ?, ?) " +
        "ON CONFLICT (app, room) DO UPDATE SET last_seq = excluded.last_seq",
    ),
    positionsPage: p(
      "SELECT room_seq AS roomSeq, msg_id AS msgId, time FROM room_timeline WHERE app = ? AND room = ? " +
        "AND room_seq < ? AND room_seq > ? AND time >= ? ORDER BY room_seq DESC LIMIT ?",
    ),
    positionOf: p(
      "SELECT room_seq AS roomSeq FROM room_timeline WHERE app = ? AND room = ? AND msg_id = ? AND room_seq > ? " +
        "AND time >= ?",
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
