/**
 * Opening the database file: directory, lock, pragmas, schema, epoch. Everything that makes a file
 * unusable is one {@linkcode StoreOpenError} whose message names the file and says what to do; `main.ts`
 * prints it and exits with `EXIT.store`.
 *
 * - One process per file: `locking_mode=EXCLUSIVE` takes SQLite's own lock at open and keeps it until
 *   close, so a second server on the same file is refused at once (busy timeout 0) instead of two
 *   processes handing out the same seqs. A killed process's lock goes with it (the kernel drops it).
 * - WAL journal, `synchronous=OFF` and no automatic checkpoints: a commit only appends to the WAL; the
 *   writer (writer.ts) makes it durable with its own fdatasync off the event loop (`store.sync: full`),
 *   and checkpoints sync the database before the WAL is reused (maintenance.ts), so the file is always
 *   consistent.
 * - A crash across a reboot changes the epoch: committed entries are readable (and pushed) before their
 *   fdatasync, and a power cut or OS crash can take those back; their seqs would then be handed out again
 *   for other messages to clients that already saw them. The file records the boot time of the machine
 *   (now − `Deno.osUptime()`) and whether the last run closed cleanly; when it did not and the machine
 *   has booted since, the epoch is replaced and every client resyncs. A `kill -9` or crash without a
 *   reboot loses nothing (the OS still had every commit) and keeps the epoch.
 *
 * @example
 * ```ts
 * const { db, epoch } = openDatabase("data/imserver.db", Date.now());
 * ```
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { migrate, SchemaError } from "./schema.ts";

/** Why the store file cannot be used. */
export type OpenFailure = "locked" | "corrupt" | "foreign" | "newer" | "unwritable" | "unusable";

/**
 * The store file cannot be used; the message is meant for the operator, one line.
 *
 * @example
 * ```ts
 * try { openDatabase(path, Date.now()); } catch (e) { if (e instanceof StoreOpenError) console.error(e.message); }
 * ```
 */
export class StoreOpenError extends Error {
  constructor(readonly reason: OpenFailure, readonly path: string, message: string, options?: ErrorOptions) {
    super(`store ${path} ${message}`, options);
    this.name = "StoreOpenError";
  }
}

/** An open database and what was read from it at open. */
export interface Opened {
  db: DatabaseSync;
  /** The deployment epoch kept in the file (created with it; a backup gets a new one). */
  epoch: string;
  /** Migrations applied by this open. */
  migrated: number[];
  /** The last run did not close cleanly and the machine has rebooted since: the epoch was replaced. */
  rebooted: boolean;
}

/**
 * Boot time of the machine (ms since the epoch), or undefined when it cannot be read (no
 * `--allow-sys=osUptime`): then a crash across a reboot is not detected.
 *
 * @example
 * ```ts
 * const booted = machineBootTime(); // e.g. 1796120000000
 * ```
 */
export function machineBootTime(): number | undefined {
  try {
    return Date.now() - Deno.osUptime() * 1000;
  } catch {
    return undefined;
  }
}

/** Boot times closer than this are the same boot (uptime has a second's resolution; clocks drift). */
const SAME_BOOT_MS = 60_000;

/** SQLite's own text of the primary result codes the store tells apart. */
const MESSAGES: readonly [RegExp, number][] = [
  [/database is locked/, 5],
  [/readonly database/, 8],
  [/disk I\/O error/, 10],
  [/database disk image is malformed/, 11],
  [/database or disk is full/, 13],
  [/unable to open database file/, 14],
  [/file is not a database/, 26],
];

/**
 * SQLite primary result code of a node:sqlite error, if it is one. Deno sets `errcode` on most errors
 * but not on all (an `exec` that fails while opening has only the message), hence the fallback.
 *
 * @example
 * ```ts
 * sqliteCode(error) === 13; // SQLITE_FULL: disk full
 * ```
 */
export function sqliteCode(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown })?.errcode;
  if (typeof code === "number") return code & 0xff;
  const message = String((error as Error)?.message ?? "");
  return MESSAGES.find(([re]) => re.test(message))?.[1];
}

const BUSY = 5, READONLY = 8, IOERR = 10, CORRUPT = 11, CANTOPEN = 14, NOTADB = 26;

/**
 * Open `path` as this build's store: lock, pragmas, migrations, epoch (replaced after a crash across a
 * reboot). Throws {@linkcode StoreOpenError}.
 *
 * @example
 * ```ts
 * const { db, epoch, rebooted } = openDatabase("data/imserver.db", Date.now());
 * ```
 */
export function openDatabase(
  path: string,
  now: number,
  bootTime: number | undefined = machineBootTime(),
): Opened {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
  let db: DatabaseSync | undefined;
  try {
    if (dir) Deno.mkdirSync(dir, { recursive: true });
    db = new DatabaseSync(path, { timeout: 0 });
    db.exec("PRAGMA locking_mode = EXCLUSIVE");
    db.exec("PRAGMA journal_mode = WAL");
    // Take the write lock now: a second process fails here, not at its first send.
    db.exec("BEGIN IMMEDIATE");
    db.exec("COMMIT");
    db.exec("PRAGMA synchronous = OFF");
    db.exec("PRAGMA wal_autocheckpoint = 0");
    db.exec("PRAGMA journal_size_limit = 67108864");
    const migrated = migrate(db, now);
    let epoch = readEpoch(db);
    const rebooted = crashedAcrossReboot(db, bootTime);
    if (rebooted) epoch = rotateEpoch(db);
    setMeta(db, "clean", "0");
    if (bootTime !== undefined) setMeta(db, "boot", String(Math.round(bootTime)));
    return { db, epoch, migrated, rebooted };
  } catch (error) {
    try {
      db?.close();
    } catch {
      // closing a half-opened handle may fail too; the original error is the one to report
    }
    throw classify(path, error);
  }
}

/** The epoch in `meta`, created on first use. */
function readEpoch(db: DatabaseSync): string {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'epoch'").get() as { value: string } | undefined;
  if (row) return row.value;
  const epoch = crypto.randomUUID().slice(0, 8);
  db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?)").run(epoch);
  return epoch;
}

function getMeta(db: DatabaseSync, key: string): string | undefined {
  return (db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)
    ?.value;
}

function setMeta(db: DatabaseSync, key: string, value: string): void {
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(key, value);
}

/** True when the last run did not close cleanly and the machine booted again since it started. */
function crashedAcrossReboot(db: DatabaseSync, bootTime: number | undefined): boolean {
  const clean = getMeta(db, "clean");
  const boot = Number(getMeta(db, "boot"));
  if (clean !== "0" || bootTime === undefined || !Number.isFinite(boot)) return false;
  return Math.abs(bootTime - boot) > SAME_BOOT_MS;
}

/**
 * Record a clean close (the last write before the connection closes).
 *
 * @example
 * ```ts
 * markClean(db); // then db.close()
 * ```
 */
export function markClean(db: DatabaseSync): void {
  setMeta(db, "clean", "1");
}

/**
 * Replace the epoch kept in `db` (a backup copy: clients of the restored file must resync).
 *
 * @example
 * ```ts
 * const epoch = rotateEpoch(copy); // the backup copy gets its own epoch
 * ```
 */
export function rotateEpoch(db: DatabaseSync): string {
  const epoch = crypto.randomUUID().slice(0, 8);
  setMeta(db, "epoch", epoch);
  return epoch;
}

/**
 * The {@linkcode StoreOpenError} for what went wrong while opening or loading `path` (the store's load
 * steps use it too, so a damaged row is reported like a damaged file).
 *
 * @example
 * ```ts
 * try { load(db); } catch (error) { throw classify(path, error); }
 * ```
 */
export function classify(path: string, error: unknown): StoreOpenError {
  if (error instanceof StoreOpenError) return error;
  if (error instanceof SyntaxError) {
    return new StoreOpenError(
      "corrupt",
      path,
      `holds a damaged row (${error.message}); restore a backup (docs/DEPLOYMENT.md) or move it away`,
      { cause: error },
    );
  }
  if (error instanceof SchemaError) return new StoreOpenError(error.reason, path, error.message);
  const opts = { cause: error };
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return new StoreOpenError(
      "unwritable",
      path,
      `cannot be opened for writing (${(error as Error).message}); grant --allow-write on its directory or ` +
        "change store.path",
      opts,
    );
  }
  const message = (error as Error)?.message ?? String(error);
  switch (sqliteCode(error)) {
    case BUSY:
      return new StoreOpenError(
        "locked",
        path,
        "is in use by another imserver process (one process per database file); stop it, give this one " +
          "another store.path, or run several processes in cluster mode (cluster.enabled: true with Redis)",
        opts,
      );
    case NOTADB:
    case CORRUPT:
      return new StoreOpenError(
        "corrupt",
        path,
        `is not a usable SQLite database (${message}); restore a backup (docs/DEPLOYMENT.md) or move it away`,
        opts,
      );
    case READONLY:
    case CANTOPEN:
      return new StoreOpenError(
        "unwritable",
        path,
        `cannot be opened for writing (${message}); check the file's and directory's permissions`,
        opts,
      );
    case IOERR:
      return new StoreOpenError("unusable", path, `cannot be read or written (${message})`, opts);
  }
  return new StoreOpenError("unusable", path, `cannot be opened (${message})`, opts);
}
