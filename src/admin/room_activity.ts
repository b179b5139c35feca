/**
 * Which rooms are busy: room messages per app over the current and the previous window (5 min each by
 * default), for the console's apps view ("top rooms"). The store has no index of rooms, and traffic is
 * what an operator asks about first. Bounded: at most `maxRooms` rooms per app and `maxApps` apps; a new
 * room in a full app replaces the least active one and starts from its count (the space-saving
 * algorithm), so a count is an upper bound and a busy room is never missed. Windows turn over when
 * read or written, without a timer. Fed by the messenger (messaging/send.ts `onRoomMessage`).
 *
 * @example
 * ```ts
 * const activity = new RoomActivity({ now: () => clock.now() });
 * activity.record(101, "lobby");
 * activity.top(101, 10); // [{ room: "lobby", messages: 1 }]
 * ```
 * @module
 */

/** Options of {@linkcode RoomActivity}. */
export interface RoomActivityOptions {
  now: () => number;
  /** Window length (ms); a count covers the current and the previous window. Default 5 min. */
  windowMs?: number;
  /** Rooms tracked per app. Default 256. */
  maxRooms?: number;
  /** Apps tracked. Default 64. */
  maxApps?: number;
}

/** One room of {@linkcode RoomActivity.top}. */
export interface RoomCount {
  room: string;
  messages: number;
}

interface AppWindows {
  current: Map<string, number>;
  previous: Map<string, number>;
}

/** Room message counts per app, recent windows only. */
export class RoomActivity {
  readonly #now: () => number;
  readonly #windowMs: number;
  readonly #maxRooms: number;
  readonly #maxApps: number;
  readonly #apps = new Map<number, AppWindows>();
  #windowStart: number;

  constructor(o: RoomActivityOptions) {
    this.#now = o.now;
    this.#windowMs = o.windowMs ?? 300_000;
    this.#maxRooms = o.maxRooms ?? 256;
    this.#maxApps = o.maxApps ?? 64;
    this.#windowStart = o.now();
  }

  /** Count `n` messages to `room`. */
  record(appId: number, room: string, n = 1): void {
    this.#turn();
    let app = this.#apps.get(appId);
    if (!app) {
      if (this.#apps.size >= this.#maxApps) return;
      this.#apps.set(appId, app = { current: new Map(), previous: new Map() });
    }
    const counts = app.current;
    const held = counts.get(room);
    if (held !== undefined) {
      counts.set(room, held + n);
      return;
    }
    if (counts.size < this.#maxRooms) {
      counts.set(room, n);
      return;
    }
    let least: string | undefined;
    let min = Infinity;
    for (const [r, c] of counts) {
      if (c < min) [least, min] = [r, c];
    }
    counts.delete(least!);
    counts.set(room, min + n);
  }

  /** The `limit` busiest rooms of an app, busiest first. */
  top(appId: number, limit: number): RoomCount[] {
    this.#turn();
    const app = this.#apps.get(appId);
    if (!app) return [];
    const sum = new Map(app.previous);
    for (const [room, n] of app.current) sum.set(room, (sum.get(room) ?? 0) + n);
    return [...sum].map(([room, messages]) => ({ room, messages }))
      .sort((a, b) => b.messages - a.messages || (a.room < b.room ? -1 : 1))
      .slice(0, limit);
  }

  /** Apps with recent room messages. */
  apps(): number[] {
    this.#turn();
    return [...this.#apps.keys()];
  }

  #turn(): void {
    const elapsed = this.#now() - this.#windowStart;
    if (elapsed < this.#windowMs) return;
    const windows = Math.floor(elapsed / this.#windowMs);
    this.#windowStart += windows * this.#windowMs;
    for (const [appId, app] of this.#apps) {
      app.previous = windows === 1 ? app.current : new Map();
      app.current = new Map();
      if (app.previous.size === 0) this.#apps.delete(appId);
    }
  }
}
