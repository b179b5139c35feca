/**
 * The {@linkcode Store} on SQLite (`node:sqlite`): the embedded default, durable across restarts and
 * `kill -9`. One process owns the file (open.ts); writes go through the group-commit writer (writer.ts)
 * and resolve once committed, {@linkcode SqliteStore.synced} once on disk; reads are synchronous — the inbox
 * bounds from memory (inboxes.ts), entry bodies by rowid, rooms by index. Retention runs in small
 * background batches (maintenance.ts), never on the send path.
 *
 * Every write operation runs inside the writer's transaction and sees the earlier operations of the
 * same transaction through the overlay (overlay.ts); memory is updated from it only after COMMIT, so a
 * rolled-back transaction (disk full) leaves nothing behind. Rooms and claims are in records.ts.
 *
 * @example
 * ```ts
 * const store = SqliteStore.open({ path: "data/imserver.db", policy });
 * const e = await store.append(101, "bob", entry); // committed
 * await store.synced(); // and on disk
 * await store.close();
 * ```
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { Metrics } from "../../ops/metrics.ts";
import { StorageError } from "../../protocol/errors.ts";
import { type Clock, systemClock } from "../../util/clock.ts";
import type {
  Appended,
  InboxEntry,
  InboxHead,
  JoinResult,
  Mark,
  NewEntry,
  Store,
  StorePolicy,
} from "../store.ts";
import { backupDatabase, type BackupResult } from "./backup.ts";
import { type Inbox, InboxIndex } from "./inboxes.ts";
import { Maintenance } from "./maintenance.ts";
import { machineBootTime, markClean, openDatabase } from "./open.ts";
import { Overlay } from "./overlay.ts";
import { Records } from "./records.ts";
import { prepareStatements, type Statements } from "./statements.ts";
import { type Tx, Writer } from "./writer.ts";

/** Options of {@linkcode SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** Database file; its directory is created. */
  path: string;
  policy: StorePolicy;
  /** full (default): acknowledge after fdatasync; normal: after COMMIT. */
  sync?: "full" | "normal";
  clock?: Clock;
  /** True while the user has a live connection: its inbox is never dropped then. */
  isActive?: (appId: number, userId: string) => boolean;
  metrics?: Metrics;
  /** Background maintenance tick (ms); 0 = none (tests call {@linkcode SqliteStore.maintain}). */
  maintenanceMs?: number;
  /** Where {@linkcode SqliteStore.backup} writes. */
  backupDir?: string;
  /** Told when writes start failing (the reason) and work again (undefined). */
  onHealth?: (failure: string | undefined) => void;
  /** The machine's boot time (ms; default now − `Deno.osUptime()`); tests simulate a reboot with it. */
  bootTime?: number;
}

/** Users per append operation: bounds one operation's share of a transaction. */
const CHUNK = 500;

/** Store on one SQLite file. */
export class SqliteStore implements Store {
  readonly kind = "sqlite";
  readonly path: string;
  /** The last run crashed and the machine rebooted since: the epoch was replaced (open.ts). */
  readonly rebooted: boolean;
  readonly #db: DatabaseSync;
  readonly #s: Statements;
  readonly #policy: StorePolicy;
  readonly #clock: Clock;
  readonly #isActive: (appId: number, userId: string) => boolean;
  readonly #epoch: string;
  readonly #index: InboxIndex;
  readonly #writer: Writer;
  readonly #maintenance: Maintenance;
  readonly #backupDir: string;
  /** Rowids trimmed from memory and not yet deleted from the file: [id, gen, seq, ...]. */
  readonly #drops: number[] = [];
  readonly #overlay: Overlay;
  readonly #records: Records;
  #backups: Promise<unknown> = Promise.resolve();

  private constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.#policy = options.policy;
    this.#clock = options.clock ?? systemClock;
    this.#isActive = options.isActive ?? (() => false);
    this.#backupDir = options.backupDir ?? `${dirOf(options.path)}backups`;
    const { db, epoch, rebooted } = openDatabase(
      options.path,
      this.#clock.now(),
      "bootTime" in options ? options.bootTime : machineBootTime(),
    );
    this.#db = db;
    this.#epoch = epoch;
    this.rebooted = rebooted;
    try {
      this.#s = prepareStatements(db);
      this.#index = new InboxIndex(options.policy, (id, inbox, seq) => this.#drops.push(id, inbox.gen, seq));
      this.#index.load(db, this.#clock.now(), (id) => this.#drops.push(id, 0, 0));
      this.#overlay = new Overlay(this.#index, this.#s);
    } catch (error) {
      db.close();
      throw error;
    }
    this.#writer = new Writer({
      db,
      sync: options.sync ?? "full",
      walPath: `${options.path}-wal`,
      metrics: options.metrics,
      onHealth: options.onHealth,
    });
    this.#records = new Records({
      writer: this.#writer,
      statements: this.#s,
      policy: this.#policy,
      clock: this.#clock,
    });
    this.#maintenance = new Maintenance({
      db,
      writer: this.#writer,
      path: options.path,
      walPath: `${options.path}-wal`,
      clock: this.#clock,
      metrics: options.metrics,
      intervalMs: options.maintenanceMs ?? 50,
      steps: {
        drops: () => this.#dropStep(),
        prune: () => this.#pruneStep(),
        claims: () => this.#records.expireClaims(500),
      },
      pending: () => this.#drops.length / 3,
    });
  }

  /** Open (or create) the store file and load its inbox map. Throws `StoreOpenError`. */
  static open(options: SqliteStoreOptions): SqliteStore {
    return new SqliteStore(options);
  }

  /** Why writes fail now (for `/readyz`), or undefined. */
  get failure(): string | undefined {
    return this.#writer.failure;
  }

  /** Inboxes and kept entries, for `/metrics`. */
  get inboxStats(): { inboxes: number; entries: number } {
    return { inboxes: this.#index.size, entries: this.#index.entries };
  }

  /** Run one PRAGMA on the store's connection (tests: `max_page_count` = a full disk, `query_only`). */
  pragma(statement: string): unknown {
    return this.#db.prepare(`PRAGMA ${statement}`).get();
  }

  #oldest(): number {
    return this.#clock.now() - this.#policy.maxAgeMs;
  }

  append(appId: number, userId: string, entry: NewEntry): Promise<InboxEntry> {
    const json = JSON.stringify(entry);
    return this.#writer.submit(
      "append",
      1,
      (tx) => this.#overlay.insert(tx, appId, userId, entry, json, false),
    )
      .then((seq) => ({ ...entry, seq }));
  }

  appendMany(appId: number, userIds: string[], entry: NewEntry): Promise<number[]> {
    const json = JSON.stringify(entry);
    return this.#chunked(
      "appendMany",
      userIds,
      (tx, users) => users.map((u) => this.#overlay.insert(tx, appId, u, entry, json, false)),
    );
  }

  appendOnce(appId: number, userIds: string[], entry: NewEntry): Promise<Appended[]> {
    const json = JSON.stringify(entry);
    return this.#chunked("appendOnce", userIds, (tx, users) =>
      users.map((u) => {
        const seq = this.#overlay.repeated(tx, appId, u, entry.msgId);
        if (seq !== undefined) return { seq, repeated: true };
        return { seq: this.#overlay.insert(tx, appId, u, entry, json, true), repeated: false };
      }));
  }

  /** One writer operation per {@linkcode CHUNK} users; results in the order given. */
  #chunked<T>(name: string, users: string[], run: (tx: Tx, users: string[]) => T[]): Promise<T[]> {
    if (users.length === 0) return Promise.resolve([]);
    if (users.length <= CHUNK) return this.#writer.submit(name, users.length, (tx) => run(tx, users));
    const parts: Promise<T[]>[] = [];
    for (let i = 0; i < users.length; i += CHUNK) {
      const slice = users.slice(i, i + CHUNK);
      parts.push(this.#writer.submit(name, slice.length, (tx) => run(tx, slice)));
    }
    return Promise.all(parts).then((all) => all.flat());
  }

  /** Entries of `inbox` with seq in [from, to] (committed, kept, not aged), oldest first. */
  #read(op: string, appId: number, userId: string, from: number, to: number): InboxEntry[] {
    const inbox = this.#index.get(appId, userId);
    if (!inbox) return [];
    this.#index.trimAge(inbox, this.#oldest());
    const lo = Math.max(from, this.#index.firstKept(inbox));
    const ids = this.#index.ids(inbox, lo, to);
    if (ids.length === 0) return [];
    let rows: { i: number; body: string }[];
    try {
      rows = this.#s.entryBodies.all(JSON.stringify(ids)) as { i: number; body: string }[];
    } catch (error) {
      throw new StorageError(op, error);
    }
    return rows.map((r) => ({ ...JSON.parse(r.body) as NewEntry, seq: lo + Number(r.i) }));
  }

  range(appId: number, userId: string, afterSeq: number, limit: number): Promise<InboxEntry[]> {
    if (limit <= 0) return Promise.resolve([]);
    const from = Math.max(0, Math.floor(afterSeq)) + 1;
    return new Promise((resolve) => resolve(this.#read("range", appId, userId, from, from + limit - 1)));
  }

  rangeBefore(appId: number, userId: string, beforeSeq: number, limit: number): Promise<InboxEntry[]> {
    const inbox = this.#index.get(appId, userId);
    if (!inbox || limit <= 0) return Promise.resolve([]);
    const to = Math.min(Math.floor(beforeSeq) - 1, inbox.lastSeq);
    return new Promise((resolve) =>
      resolve(this.#read("rangeBefore", appId, userId, Math.max(1, to - limit + 1), to).reverse())
    );
  }

  #head(inbox: Inbox): InboxHead {
    this.#index.trimAge(inbox, this.#oldest());
    return {
      firstSeq: Math.min(this.#index.firstKept(inbox), inbox.lastSeq + 1),
      lastSeq: inbox.lastSeq,
      epoch: `${this.#epoch}.${inbox.gen.toString(36)}`,
    };
  }

  async head(appId: number, userId: string): Promise<InboxHead> {
    const inbox = this.#index.get(appId, userId);
    if (inbox) return this.#head(inbox);
    // The first look creates the inbox (durably), so its epoch holds from the first login on.
    await this.#writer.submit("head", 1, (tx) => void this.#overlay.slot(tx, appId, userId, true));
    const created = this.#index.get(appId, userId);
    return created ? this.#head(created) : { firstSeq: 1, lastSeq: 0, epoch: this.#epoch };
  }

  advanceMark(
    appId: number,
    userId: string,
    mark: Mark,
    seq: number,
  ): Promise<{ previous: number; current: number }> {
    const inbox = this.#index.get(appId, userId);
    const target = Math.floor(seq);
    if (!inbox) return Promise.resolve({ previous: 0, current: 0 });
    const held = inbox.marks[mark];
    if (Math.min(target, inbox.lastSeq) <= held) return Promise.resolve({ previous: held, current: held });
    return this.#writer.submit("advanceMark", 1, (tx) => {
      const p = this.#overlay.slot(tx, appId, userId, false);
      if (!p?.inbox) return { previous: 0, current: 0 };
      const previous = p.marks?.[mark] ?? p.inbox.marks[mark];
      const current = Math.max(previous, Math.min(target, p.inbox.lastSeq));
      if (current > previous) {
        (p.marks ??= {})[mark] = current;
        this.#s.setMark[mark].run(current, p.gen);
      }
      return { previous, current };
    });
  }

  /** Resolves once everything committed so far is on disk (see `Store.synced`). */
  synced(): Promise<void> {
    return this.#writer.synced();
  }

  mark(appId: number, userId: string, mark: Mark): Promise<number> {
    return Promise.resolve(this.#index.get(appId, userId)?.marks[mark] ?? 0);
  }

  claim(key: string, value: string): Promise<string | null> {
    return this.#records.claim(key, value);
  }

  joinRoom(appId: number, room: string, userId: string): Promise<JoinResult> {
    return this.#records.joinRoom(appId, room, userId);
  }

  leaveRoom(appId: number, room: string, userId: string): Promise<boolean> {
    return this.#records.leaveRoom(appId, room, userId);
  }

  roomMembers(appId: number, room: string): Promise<string[]> {
    return this.#records.roomMembers(appId, room);
  }

  userRooms(appId: number, userId: string): Promise<string[]> {
    return this.#records.userRooms(appId, userId);
  }

  /** Delete a batch of trimmed rows (500–5000), raising each inbox's seq floor so seqs never restart. */
  async #dropStep(): Promise<number> {
    const pending = this.#drops.length / 3;
    const batch = this.#drops.splice(0, 3 * Math.min(5000, Math.max(500, Math.ceil(pending / 8))));
    if (batch.length === 0) return 0;
    try {
      await this.#writer.submit("prune", batch.length / 3, () => {
        const ids: number[] = [];
        const floors = new Map<number, number>();
        for (let i = 0; i < batch.length; i += 3) {
          ids.push(batch[i]);
          if (batch[i + 1] > 0) {
            floors.set(batch[i + 1], Math.max(floors.get(batch[i + 1]) ?? 0, batch[i + 2]));
          }
        }
        this.#s.deleteEntries.run(JSON.stringify(ids));
        for (const [gen, seq] of floors) this.#s.raiseFloor.run(seq, gen);
      });
    } catch (error) {
      this.#drops.unshift(...batch);
      throw error;
    }
    return batch.length / 3;
  }

  /** Look at up to 1000 inboxes: age-trim them, drop the idle ones (not while their user is connected). */
  async #pruneStep(): Promise<number> {
    const oldest = this.#oldest();
    const idle = this.#maintenance.nextInboxes(() => this.#index.values(), 1000).filter((inbox) => {
      this.#index.trimAge(inbox, oldest);
      this.#index.sweepMsgIds(inbox);
      return inbox.start === inbox.ids.length && !this.#isActive(inbox.app, inbox.user);
    });
    if (idle.length === 0) return 0;
    return await this.#writer.submit("prune", idle.length, (tx) => {
      let dropped = 0;
      for (const inbox of idle) if (this.#overlay.drop(tx, inbox)) dropped++;
      return dropped;
    });
  }

  /** One bounded step of every retention task, then a checkpoint (tests; the timer does this). */
  async maintain(): Promise<void> {
    await this.#maintenance.runAll();
  }

  /** Copy the database while serving into the backup directory (backup.ts); one at a time. */
  backup(): Promise<BackupResult> {
    const run = this.#backups.then(() =>
      backupDatabase({ db: this.#db, path: this.path, dir: this.#backupDir, maintenance: this.#maintenance })
    ).catch((error) => {
      throw new StorageError("backup", error);
    });
    this.#backups = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    await this.#backups;
    await this.#maintenance.stop();
    await this.#writer.close();
    try {
      markClean(this.#db);
    } catch {
      // a full disk: the next start treats this run as a crash, which only matters after a reboot
    }
    this.#maintenance.finish();
    this.#db.close();
    this.#maintenance.release();
  }
}

function dirOf(path: string): string {
  return path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
}
