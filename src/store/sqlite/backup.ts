/**
 * Online backup of the SQLite store while it serves. Deno's `node:sqlite` `backup()` and `VACUUM INTO`
 * do not fit: the first runs to completion synchronously (~0.4 s per 1M messages with the event loop
 * held), the second needs ATTACH, which Deno's SQLite does not allow. Instead:
 *
 * 1. Checkpoints are held (maintenance.ts): in WAL mode only a checkpoint writes the database file, so
 *    it stays unchanged while it is copied; commits go on, into the WAL.
 * 2. The database file and then the WAL are copied with `Deno.copyFile` (the kernel copies; the event
 *    loop is free). A WAL is a chain of checksummed frames, so any copy of it — even one that races a
 *    commit — recovers to the last complete transaction in it: a consistent snapshot.
 * 3. The copy is opened on its own (WAL recovery), given a new epoch (a server restored from it hands out
 *    seqs its clients may have seen with other messages: they must resync, see docs/MESSAGING.md), turned
 *    into one self-contained file, and renamed into place.
 *
 * @example
 * ```ts
 * const result = await backupDatabase({ db, path: "data/imserver.db", dir: "data/backups", maintenance });
 * result.path; // "data/backups/imserver-2026-12-01T10-20-30-123Z.db"
 * ```
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { markClean, rotateEpoch } from "./open.ts";
import { APPLICATION_ID } from "./schema.ts";

/** What a backup produced. */
export interface BackupResult {
  /** The backup file (restore: stop the server and copy it to `store.path`). */
  path: string;
  bytes: number;
  durationMs: number;
  /** The epoch of the copy (differs from the live one). */
  epoch: string;
}

/** Options of {@linkcode backupDatabase}. */
export interface BackupOptions {
  /** The live connection (only to name the file; reads go to the copy). */
  db: DatabaseSync;
  /** The live database file. */
  path: string;
  /** Directory the backup is written to (created). */
  dir: string;
  /** Holds checkpoints while the files are copied. */
  maintenance: { pause(): () => void };
  /** Backups kept in `dir` after this one (the newest; older `imserver-*.db` copies are removed); 0 = all. */
  keep?: number;
}

/** The names backups get: `imserver-<ISO time with - for : and .>.db` (they sort by time). */
const BACKUP_NAME = /^imserver-\d{4}-\d\d-\d\dT[\d-]+Z\.db$/;

/**
 * Copy the live database into `dir` without stopping it.
 *
 * @example
 * ```ts
 * const { path, bytes } = await backupDatabase({ db, path: "data/imserver.db", dir: "data/backups", maintenance });
 * ```
 */
export async function backupDatabase(o: BackupOptions): Promise<BackupResult> {
  const start = performance.now();
  await Deno.mkdir(o.dir, { recursive: true });
  const target = `${o.dir.replace(/\/$/, "")}/imserver-${new Date().toISOString().replace(/[:.]/g, "-")}.db`;
  const part = `${target}.part`;
  const resume = o.maintenance.pause();
  try {
    await Deno.copyFile(o.path, part);
    await Deno.copyFile(`${o.path}-wal`, `${part}-wal`).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  } catch (error) {
    await removeQuietly(part, `${part}-wal`);
    throw error;
  } finally {
    resume();
  }
  let epoch: string;
  try {
    const copy = new DatabaseSync(part, { timeout: 0 });
    try {
      copy.exec("PRAGMA locking_mode = EXCLUSIVE");
      copy.exec("PRAGMA journal_mode = WAL");
      const appId =
        (copy.prepare("PRAGMA application_id").get() as { application_id: number }).application_id;
      if (Number(appId) !== APPLICATION_ID) throw new Error("the copy is not an imserver database");
      epoch = rotateEpoch(copy);
      markClean(copy);
      copy.exec("PRAGMA journal_mode = DELETE");
    } finally {
      copy.close();
    }
    await Deno.rename(part, target);
  } catch (error) {
    await removeQuietly(part, `${part}-wal`);
    throw error;
  }
  await removeQuietly(`${part}-wal`);
  const bytes = (await Deno.stat(target)).size;
  if (o.keep) await pruneBackups(o.dir, o.keep);
  return { path: target, bytes, durationMs: Math.round(performance.now() - start), epoch };
}

/** Remove all but the `keep` newest backups of `dir` (only files named as backups: nothing else there). */
async function pruneBackups(dir: string, keep: number): Promise<void> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && BACKUP_NAME.test(e.name)) names.push(e.name);
  names.sort();
  const base = dir.replace(/\/$/, "");
  await removeQuietly(...names.slice(0, Math.max(0, names.length - keep)).map((n) => `${base}/${n}`));
}

async function removeQuietly(...paths: string[]): Promise<void> {
  for (const p of paths) await Deno.remove(p).catch(() => {});
}
