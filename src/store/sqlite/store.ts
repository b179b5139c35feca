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
 * @size One short method per `Store` operation (35), each delegating to the module that owns the state.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { Metrics } from "../../ops/metrics.ts";
import { StorageError } from "../../protocol/errors.ts";
import { type Clock, systemClock } from "../../util/clock.ts";
import type {
  Appended,
  Conversation,
  InboxEntry,
  InboxHead,
  JoinResult,
  LoginState,
  Mark,
  MessageChange,
  NewEntry,
  ReadChange,
  RoomTimelineEntry,
  Store,
  StoredMessage,
  StorePolicy,
} from "../store.ts";
import { backupDatabase, type BackupResult } from "./backup.ts";
import { Blocks } from "./blocks.ts";
import { prepareImStatements } from "./im_statements.ts";
import { KeptMessages } from "./kept_messages.ts";
import { RoomTimelines } from "./room_timelines.ts";
import { ConversationSummaries } from "./summaries.ts";
import { type Inbox, InboxIndex } from "./inboxes.ts";
import { Maintenance } from "./maintenance.ts";
import { classify, machineBootTime, markClean, openDatabase } from "./open.ts";
import { Overlay } from "./overlay.ts";
import { InboxReads } from "./reads.ts";
import { Records } from "./records.ts";
import { Retention } from "./retention.ts";
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
  /** Backups kept in `backupDir` (the newest; 0 = all, the default here; the config's default is 10). */
  backupKeep?: number;
  /** Told when writes start failing (the reason) and work again (undefined). */
  onHealth?: (failure: string | undefined) => void;
  /** The machine's boot time (ms; default now − `Deno.osUptime()`); tests simulate a reboot with it. */
  bootTime?: number;
}

/** Users per append operation: bounds one operation's share of a transaction. */
const CHUNK = 500;

/**
 * Store on one SQLite file.
 *
 * @example
 * ```ts
 * const store = SqliteStore.open({ path: "data/imserver.db", policy });
 * ```
 */
export class SqliteStore implements Store {
  readonly kind = "sqlite";
  readonly path: string;
  /** The last run crashed and the machine rebooted since: the epoch was replaced (open.ts). */
  readonly rebooted: boolean;
  readonly #db: DatabaseSync;
  readonly #s: Statements;
  readonly #policy: StorePolicy;
  readonly #clock: Clock;
  readonly #epoch: string;
  readonly #index: InboxIndex;
  readonly #writer: Writer;
  readonly #maintenance: Maintenance;
  readonly #backupDir: string;
  readonly #backupKeep: number;
  readonly #retention: Retention;
  readonly #reads: InboxReads;
  readonly #overlay: Overlay;
  readonly #records: Records;
  readonly #summaries: ConversationSummaries;
  readonly #kept: KeptMessages;
  readonly #timelines: RoomTimelines;
  readonly #blocks: Blocks;
  #backups: Promise<unknown> = Promise.resolve();

  private constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.#policy = options.policy;
    this.#clock = options.clock ?? systemClock;
    this.#backupDir = options.backupDir ?? `${dirOf(options.path)}backups`;
    this.#backupKeep = options.backupKeep ?? 0;
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
      this.#writer = new Writer({
        db,
        sync: options.sync ?? "full",
        walPath: `${options.path}-wal`,
        metrics: options.metrics,
        onHealth: options.onHealth,
      });
      // Trims during the load already queue their rows: the retention exists before the scan.
      this.#index = new InboxIndex(
        options.policy,
        (id, inbox, seq) => this.#retention.trimmed(id, inbox.gen, seq),
      );
      this.#overlay = new Overlay(this.#index, this.#s);
      const shared = {
        writer: this.#writer,
        statements: this.#s,
        index: this.#index,
        policy: this.#policy,
        clock: this.#clock,
      };
      this.#retention = new Retention({
        ...shared,
        overlay: this.#overlay,
        isActive: options.isActive ?? (() => false),
        idle: (inbox) => this.#summaries.release(inbox.gen),
      });
      this.#reads = new InboxReads({ ...shared, epoch });
      this.#records = new Records(shared);
      const im = prepareImStatements(db);
      this.#summaries = new ConversationSummaries({ ...shared, im });
      this.#overlay.follow(this.#summaries);
      this.#kept = new KeptMessages({ ...shared, im });
      this.#timelines = new RoomTimelines({ ...shared, im });
      this.#blocks = new Blocks({ writer: this.#writer, im });
      this.#index.load(db, this.#clock.now(), (id) => this.#retention.orphan(id));
      this.#summaries.load(db);
      this.#kept.load();
      this.#blocks.load(db);
    } catch (error) {
      db.close();
      throw classify(options.path, error);
    }
    this.#maintenance = new Maintenance({
      db,
      writer: this.#writer,
      path: options.path,
      walPath: `${options.path}-wal`,
      clock: this.#clock,
      metrics: options.metrics,
      intervalMs: options.maintenanceMs ?? 50,
      steps: {
        drops: () => this.#retention.dropStep(),
        prune: () => this.#retention.pruneStep(),
        claims: () => this.#records.expireClaims(500),
        versions: () => this.#summaries.deleteStep(),
        messages: () => this.#kept.pruneStep(),
        positions: () => this.#timelines.pruneStep(),
      },
      pending: () => this.#retention.pending + this.#summaries.pending + (this.#kept.aged ? 1 : 0),
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

  /** Inboxes, kept entries, kept messages and inboxes with summary working state, for `/metrics` and tests. */
  get inboxStats(): { inboxes: number; entries: number; keptMessages: number; working: number } {
    return {
      inboxes: this.#index.size,
      entries: this.#index.entries,
      keptMessages: this.#kept.size,
      working: this.#summaries.working,
    };
  }

  /** Run one PRAGMA on the store's connection (tests: `max_page_count` = a full disk, `query_only`). */
  pragma(statement: string): unknown {
    return this.#db.prepare(`PRAGMA ${statement}`).get();
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

  range(appId: number, userId: string, afterSeq: number, limit: number): Promise<InboxEntry[]> {
    return new Promise((resolve) => resolve(this.#reads.range(appId, userId, afterSeq, limit)));
  }

  rangeBefore(appId: number, userId: string, beforeSeq: number, limit: number): Promise<InboxEntry[]> {
    return new Promise((resolve) => resolve(this.#reads.rangeBefore(appId, userId, beforeSeq, limit)));
  }

  async head(appId: number, userId: string): Promise<InboxHead> {
    const inbox = this.#index.get(appId, userId);
    if (inbox) return this.#reads.head(inbox);
    // The first look creates the inbox (durably), so its epoch holds from the first login on.
    await this.#writer.submit("head", 1, (tx) => void this.#overlay.slot(tx, appId, userId, true));
    const created = this.#index.get(appId, userId);
    return created ? this.#reads.head(created) : { firstSeq: 1, lastSeq: 0, epoch: this.#epoch };
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

  loginState(appId: number, userId: string): Promise<LoginState> {
    const inbox = this.#index.get(appId, userId);
    if (inbox) return Promise.resolve(this.#loginStateOf(inbox));
    // the first look creates the inbox (head); the rare path keeps its await
    return this.head(appId, userId).then((head) => {
      const created = this.#index.get(appId, userId);
      return created ? this.#loginStateOf(created) : { head, delivered: 0, acked: 0, unreadTotal: 0 };
    });
  }

  #loginStateOf(inbox: Inbox): LoginState {
    return {
      head: this.#reads.head(inbox),
      delivered: inbox.marks.delivered,
      acked: inbox.marks.ack,
      unreadTotal: this.#summaries.unreadTotal(inbox),
    };
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

  conversations(
    appId: number,
    userId: string,
    limit: number,
    before?: number,
  ): Promise<{ items: Conversation[]; more: boolean }> {
    return Promise.resolve(this.#summaries.conversations(this.#index.get(appId, userId), limit, before));
  }

  markRead(
    appId: number,
    userId: string,
    conversation: string | undefined,
    seq: number,
  ): Promise<ReadChange[]> {
    // Nothing queued: the committed state is all there is, and it says whether anything would change.
    const inbox = this.#index.get(appId, userId);
    if (this.#writer.queued === 0 && !this.#summaries.wouldRead(inbox, conversation, seq)) {
      return Promise.resolve([]);
    }
    return this.#writer.submit("markRead", 1, (tx) => {
      const p = this.#overlay.slot(tx, appId, userId, false);
      return p && p.gen > 0 ? this.#summaries.markRead(tx, p, conversation, seq) : [];
    });
  }

  unreadTotal(appId: number, userId: string): Promise<number> {
    return Promise.resolve(this.#summaries.unreadTotal(this.#index.get(appId, userId)));
  }

  hiddenAmong(appId: number, userId: string, msgIds: string[]): Promise<Set<string>> {
    return new Promise((resolve) =>
      resolve(this.#summaries.hiddenAmong(this.#index.get(appId, userId), msgIds))
    );
  }

  saveMessage(appId: number, message: StoredMessage): Promise<void> {
    return this.#kept.save(appId, message);
  }

  messages(appId: number, msgIds: string[]): Promise<Map<string, StoredMessage>> {
    return new Promise((resolve) => resolve(this.#kept.messages(appId, msgIds)));
  }

  changeMessage(appId: number, msgId: string, change: MessageChange): Promise<StoredMessage | undefined> {
    return this.#kept.change(appId, msgId, change);
  }

  appendRoomTimeline(appId: number, room: string, msgId: string, time: number): Promise<number> {
    return this.#timelines.append(appId, room, msgId, time);
  }

  roomTimeline(
    appId: number,
    room: string,
    beforeRoomSeq: number,
    limit: number,
  ): Promise<RoomTimelineEntry[]> {
    return new Promise((resolve) => resolve(this.#timelines.page(appId, room, beforeRoomSeq, limit)));
  }

  setBlocked(appId: number, userId: string, other: string, blocked: boolean): Promise<boolean> {
    return this.#blocks.set(appId, userId, other, blocked);
  }

  blockedUsers(appId: number, userId: string): Promise<string[]> {
    return Promise.resolve(this.#blocks.blockedUsers(appId, userId));
  }

  blockersOf(appId: number, sender: string, candidates: string[]): Promise<Set<string>> {
    return Promise.resolve(this.#blocks.blockersOf(appId, sender, candidates));
  }

  /** One bounded step of every retention task, then a checkpoint (tests; the timer does this). */
  async maintain(): Promise<void> {
    await this.#maintenance.runAll();
  }

  /** Copy the database while serving into the backup directory (backup.ts); one at a time. */
  backup(): Promise<BackupResult> {
    const run = this.#backups.then(() =>
      backupDatabase({
        db: this.#db,
        path: this.path,
        dir: this.#backupDir,
        maintenance: this.#maintenance,
        keep: this.#backupKeep,
      })
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
