/**
 * The SQLite store's schema and its forward migrations. A file is ours when `PRAGMA application_id` is
 * {@linkcode APPLICATION_ID}; `schema_version` records every migration applied (version, name, time),
 * and a file whose newest version is past {@linkcode SCHEMA_VERSION} was written by a newer imserver and
 * is refused rather than guessed at.
 *
 * Layout, and why:
 * - `entries` is append-only in commit order (INTEGER PRIMARY KEY = the rowid) with no secondary index.
 *   A commit then dirties only the last pages of the table instead of one index page per inbox touched —
 *   the write-ahead log carries whole pages, and a per-inbox index made a 100-append commit write ~100
 *   pages (measured 3× the CPU per append). The (inbox, seq) → rowid map is held in memory
 *   (inboxes.ts) and rebuilt by one scan at start-up.
 * - An entry is stored as JSON (`body`, the fields without `seq`), so later entry kinds need no new
 *   columns. Its inbox is the integer `gen` (not app + user: the start-up scan then creates no string per
 *   row); `time` and `mid` (the msgId of idempotent appends) are the only other fields the scan needs.
 *   Rows whose `gen` has no inbox row (a dropped inbox whose deletion was cut short) are deleted at load.
 * - `inboxes.last_seq` is a floor, written when entries are deleted: the head is the larger of it and
 *   the newest entry's seq, so seqs never restart under the same generation even when every entry is
 *   gone. `gen` (AUTOINCREMENT, never reused) is the inbox generation in the epoch.
 *
 * The IM tables (version 2), with the same rule — the send path appends rows at the end of a table, it
 * does not update rows scattered over the file:
 * - `conversations` holds one row per conversation *version*: a change writes the new state as a new row
 *   (ids in commit order) and the row it replaces is deleted in the background; at load the newest row of
 *   each (gen, conv) wins (summaries.ts). An UPDATE in place would dirty one page per inbox per commit.
 * - `dead` (msgIds recalled or deleted for the inbox's owner) changes only on recalls and deletions;
 *   `msg_seq` (the message's seq when it was marked, 0 when not in the inbox) and `mark_seq` (the event's)
 *   decide at load whether a trim since has made the mark obsolete (summary_index.ts).
 * - `messages` (kept once per app) is appended in rowid order (send order, so age pruning deletes from the
 *   start) and found through the unique index `messages_by_id` (app, msg_id) — version 3; version 2 kept a
 *   map of every message in memory, which grew with traffic for `inbox.maxAge`. An edit or recall updates
 *   its row. Server msgIds sort by time, so the index grows at its right edge.
 * - `room_timeline` is clustered by room (one row per room message, not per member) and read from the file
 *   (a page is one range read; `room_timeline_by_msg`, version 3, finds a retried msgId — version 2 held
 *   every room's positions in memory for `inbox.maxAge`; `room_timeline_by_time` lets the age prune find
 *   aged positions without scanning the table, 60 ms per million positions every 10 s on the event loop);
 *   `room_heads` holds each room's roomSeq counter,
 *   `blocks` the blocks.
 *
 * @example
 * ```ts
 * const db = new DatabaseSync("data/imserver.db");
 * const applied = migrate(db, Date.now()); // [1, 2, 3] on a new file
 * ```
 * @module
 */
import type { DatabaseSync } from "node:sqlite";

/** `PRAGMA application_id` of imserver databases ("IMSR"). */
export const APPLICATION_ID = 0x494d5352;

/** One forward migration: applied once, in order, each in its own transaction. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Every migration, oldest first. Append new ones; never edit an applied one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "inboxes, entries, claims, rooms, meta",
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE inboxes (
        gen INTEGER PRIMARY KEY AUTOINCREMENT,
        app INTEGER NOT NULL,
        user TEXT NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        ack_seq INTEGER NOT NULL DEFAULT 0,
        read_seq INTEGER NOT NULL DEFAULT 0,
        delivered_seq INTEGER NOT NULL DEFAULT 0,
        UNIQUE (app, user)
      );
      CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        gen INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        time INTEGER NOT NULL,
        mid TEXT,
        body TEXT NOT NULL
      );
      CREATE TABLE claims (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX claims_expiry ON claims (expires);
      CREATE TABLE room_members (
        app INTEGER NOT NULL,
        room TEXT NOT NULL,
        user TEXT NOT NULL,
        PRIMARY KEY (app, room, user)
      ) WITHOUT ROWID;
      CREATE INDEX user_rooms ON room_members (app, user, room);
      CREATE TABLE probe (b BLOB);
    `,
  },
  {
    version: 2,
    name: "IM: conversations, dead marks, kept messages, room timelines, blocks",
    sql: `
      CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        gen INTEGER NOT NULL,
        conv TEXT NOT NULL,
        body TEXT NOT NULL
      );
      CREATE TABLE dead (
        gen INTEGER NOT NULL,
        msg_id TEXT NOT NULL,
        msg_seq INTEGER NOT NULL,
        mark_seq INTEGER NOT NULL,
        PRIMARY KEY (gen, msg_id)
      ) WITHOUT ROWID;
      CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        app INTEGER NOT NULL,
        msg_id TEXT NOT NULL,
        time INTEGER NOT NULL,
        body TEXT NOT NULL
      );
      CREATE TABLE room_heads (
        app INTEGER NOT NULL,
        room TEXT NOT NULL,
        last_seq INTEGER NOT NULL,
        PRIMARY KEY (app, room)
      ) WITHOUT ROWID;
      CREATE TABLE room_timeline (
        app INTEGER NOT NULL,
        room TEXT NOT NULL,
        room_seq INTEGER NOT NULL,
        msg_id TEXT NOT NULL,
        time INTEGER NOT NULL,
        PRIMARY KEY (app, room, room_seq)
      ) WITHOUT ROWID;
      CREATE TABLE blocks (
        app INTEGER NOT NULL,
        user TEXT NOT NULL,
        other TEXT NOT NULL,
        PRIMARY KEY (app, user, other)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    name: "kept messages and room positions found by msgId in the file",
    // A file of version 2 found its messages through a map rebuilt at start (the newest row of a msgId
    // won there), so keep that row of any duplicate before the index makes them impossible.
    sql: `
      DELETE FROM messages WHERE id NOT IN (SELECT max(id) FROM messages GROUP BY app, msg_id);
      CREATE UNIQUE INDEX messages_by_id ON messages (app, msg_id);
      CREATE INDEX room_timeline_by_msg ON room_timeline (app, room, msg_id);
      CREATE INDEX room_timeline_by_time ON room_timeline (time);
    `,
  },
];

/** The newest schema version this build knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/**
 * Why a file cannot be used as this build's store (the message says what to do).
 *
 * @example
 * ```ts
 * throw new SchemaError("newer", "has schema version 3, newer than this imserver knows (1)");
 * ```
 */
export class SchemaError extends Error {
  constructor(readonly reason: "foreign" | "newer", message: string) {
    super(message);
    this.name = "SchemaError";
  }
}

/**
 * Check that `db` is an imserver database (or empty) and apply the missing migrations. Returns the
 * versions applied. Throws {@linkcode SchemaError} for another application's file or a newer schema.
 *
 * @example
 * ```ts
 * const applied = migrate(db, Date.now()); // [1, 2, 3] on a new file, [] after
 * ```
 */
export function migrate(
  db: DatabaseSync,
  now: number,
  migrations: readonly Migration[] = MIGRATIONS,
): number[] {
  const appId = Number(
    (db.prepare("PRAGMA application_id").get() as { application_id: number }).application_id,
  );
  const tables = Number(
    (db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number }).n,
  );
  if (appId !== APPLICATION_ID && (appId !== 0 || tables > 0)) {
    throw new SchemaError(
      "foreign",
      appId === 0
        ? "is an SQLite database of another application (it has tables but no imserver application_id)"
        : `is not an imserver database (application_id ${appId.toString(16)}, ours is ${
          APPLICATION_ID.toString(16)
        })`,
    );
  }
  if (appId === 0) {
    db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
    db.exec(
      "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    );
  }
  const current = Number(
    (db.prepare("SELECT coalesce(max(version), 0) AS v FROM schema_version").get() as { v: number }).v,
  );
  const known = migrations[migrations.length - 1]?.version ?? 0;
  if (current > known) {
    throw new SchemaError(
      "newer",
      `has schema version ${current}, newer than this imserver knows (${known}): run the newer version, ` +
        "or restore a backup made by this one",
    );
  }
  const applied: number[] = [];
  const record = db.prepare("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)");
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(m.sql);
      record.run(m.version, m.name, now);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
    applied.push(m.version);
  }
  return applied;
}
