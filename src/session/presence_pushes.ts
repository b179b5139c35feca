/**
 * enter/exit pushes, bounded (docs/PROTOCOL.md section 6). The Go protocol pushes `enter` to every
 * connection of the app on every login and `exit` when a user's last connection goes — O(n²) frames
 * in a login storm, and an amplifier for one client's login/logout loop. Here changes are coalesced:
 *
 * - per app, the changes of an interval are kept as the **last** state of each user (a login/logout
 *   loop becomes at most one frame per interval per bystander);
 * - small apps (at most `batchAbove` local connections, at most `batchMax` changed users) get the Go
 *   frames `enter`/`exit` every `intervalMs` — as in the Go servers, a connection hears only of changes
 *   after its own login (so a newcomer is not told about itself or about users already online);
 * - larger apps get **one** `presence` push `{enter: [...], exit: [...], truncated}` per connection per
 *   `batchIntervalMs`, capped at `batchMax` user ids (clients needing the full list use `users`).
 *
 * Memory is one map entry per changed user per app until the next flush. Changes made on this node are
 * also published to the other nodes (once per app per flush), which push them to their own connections.
 *
 * @example
 * ```ts
 * const presencePushes = new PresencePushes({ hub, pushes, publish, intervalMs: 250, ... });
 * presencePushes.local(101, "alice", "enter", conn);
 * ```
 * @module
 */
import type { Pushes } from "../protocol/pushes.ts";
import type { Clock } from "../util/clock.ts";
import type { Connection } from "./connection.ts";
import type { Hub } from "./hub.ts";

/** A user's presence change. */
export type PresenceKind = "enter" | "exit";

/** Settings of {@linkcode PresencePushes}. */
export interface PresencePushOptions {
  hub: Hub;
  pushes: Pushes;
  clock: Clock;
  /** False: no enter/exit pushes at all (`im.enterExitPushes`). */
  enabled: boolean;
  /** Coalescing interval of small apps (ms). */
  intervalMs: number;
  /** Coalescing interval of large apps (ms). */
  batchIntervalMs: number;
  /** Apps with more local connections than this get batched `presence` pushes. */
  batchAbove: number;
  /** Most user ids in one `presence` push, and most Go frames per flush. */
  batchMax: number;
  /** Tell the other nodes (cluster); absent on a single node. */
  publish?: (appId: number, changes: Record<string, PresenceKind>) => void;
  /** Frames sent, for metrics. */
  onSent?: (frames: number) => void;
}

interface AppChanges {
  /** userId → last change in this interval and when it happened (a counter). */
  changes: Map<string, { kind: PresenceKind; order: number }>;
  /** Changes made on this node, to publish. */
  local: Record<string, PresenceKind> | undefined;
  dueAt: number;
}

/** Coalesced enter/exit of one node. */
export class PresencePushes {
  readonly #o: PresencePushOptions;
  readonly #apps = new Map<number, AppChanges>();
  /** When each logged-in connection joined, on the same counter as the changes. */
  readonly #joined = new WeakMap<Connection, number>();
  #order = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #closed = false;

  constructor(options: PresencePushOptions) {
    this.#o = options;
  }

  /** A change made on this node (a login by `cause`, or a user's last connection going). */
  local(appId: number, userId: string, kind: PresenceKind, cause?: Connection): void {
    const app = this.#record(appId, userId, kind);
    if (cause) this.#joined.set(cause, this.#order);
    if (app && this.#o.publish) (app.local ??= {})[userId] = kind;
  }

  /** Changes published by another node. */
  remote(appId: number, changes: Record<string, PresenceKind>): void {
    for (const [userId, kind] of Object.entries(changes)) {
      if (kind === "enter" || kind === "exit") this.#record(appId, userId, kind);
    }
  }

  #record(appId: number, userId: string, kind: PresenceKind): AppChanges | undefined {
    if (!this.#o.enabled || this.#closed) return undefined;
    let app = this.#apps.get(appId);
    if (!app) {
      const size = this.#o.hub.appConnections(appId)?.size ?? 0;
      const wait = size > this.#o.batchAbove ? this.#o.batchIntervalMs : this.#o.intervalMs;
      app = { changes: new Map(), local: undefined, dueAt: this.#o.clock.now() + wait };
      this.#apps.set(appId, app);
      this.#schedule(app.dueAt);
    }
    app.changes.delete(userId); // re-insert: iteration order = order of the last change
    app.changes.set(userId, { kind, order: ++this.#order });
    return app;
  }

  #schedule(at: number): void {
    if (at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.flush();
    }, Math.max(0, at - this.#o.clock.now()));
  }

  /** Push every app whose interval is over (all of them with `all`); reschedules for the rest. */
  flush(all = false): void {
    const now = this.#o.clock.now();
    let next = Infinity;
    for (const [appId, app] of this.#apps) {
      if (!all && app.dueAt > now) {
        next = Math.min(next, app.dueAt);
        continue;
      }
      this.#apps.delete(appId);
      if (app.local) this.#o.publish?.(appId, app.local);
      this.#send(appId, app);
    }
    if (next !== Infinity) this.#schedule(next);
  }

  #send(appId: number, app: AppChanges): void {
    const conns = this.#o.hub.appConnections(appId);
    if (!conns || conns.size === 0 || app.changes.size === 0) return;
    const { pushes, batchAbove, batchMax } = this.#o;
    let frames = 0;
    if (conns.size <= batchAbove && app.changes.size <= batchMax) {
      for (const [userId, { kind, order }] of app.changes) {
        const text = kind === "enter" ? pushes.enter(userId) : pushes.exit(userId);
        for (const conn of conns) {
          if ((this.#joined.get(conn) ?? 0) >= order) continue; // logged in after (or by) this change
          if (conn.send(text)) frames++;
        }
      }
    } else {
      const enter: string[] = [];
      const exit: string[] = [];
      let truncated = 0;
      for (const [userId, { kind }] of app.changes) {
        if (enter.length + exit.length >= batchMax) truncated++;
        else (kind === "enter" ? enter : exit).push(userId);
      }
      const text = pushes.presence({ enter, exit, truncated });
      for (const conn of conns) if (conn.send(text)) frames++;
    }
    this.#o.onSent?.(frames);
  }

  /** Send what is pending and stop. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.flush(true);
    this.#closed = true;
  }
}
