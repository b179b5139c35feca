/**
 * The configuration schema: every key, its type, bounds and default.
 * `config.ts` validates YAML and environment overrides against it; the README's config
 * reference is written from it.
 * @size One declarative table of every config key (one to three lines each); splitting it would scatter the
 * single place an operator's key is defined.
 * @module
 */

/** How one config key is validated. */
export type FieldSpec =
  | { type: "int"; default: number; min?: number; max?: number; doc: string }
  | { type: "number"; default: number; min?: number; max?: number; doc: string }
  | { type: "string"; default: string; doc: string }
  | { type: "bool"; default: boolean; doc: string }
  | { type: "enum"; default: string; values: readonly string[]; doc: string }
  | { type: "intList"; default: number[]; doc: string }
  | { type: "stringList"; default: string[]; doc: string };

const port = (d: number, doc: string) => ({ type: "int", default: d, min: 0, max: 65535, doc }) as const;
const seconds = (d: number, doc: string, min = 0) => ({ type: "number", default: d, min, doc }) as const;
const int = (d: number, doc: string, min = 0, max?: number) =>
  ({ type: "int", default: d, min, max, doc }) as const;
const str = (d: string, doc: string) => ({ type: "string", default: d, doc }) as const;
const bool = (d: boolean, doc: string) => ({ type: "bool", default: d, doc }) as const;

/** Sections → keys → spec. Key names of the Go seed are kept as they were (`redis.DB`). */
export const SCHEMA = {
  app: {
    logFile: str("log/imserver.log", "Rotating log file; empty string disables file logging."),
    logLevel: {
      type: "enum",
      default: "info",
      values: ["trace", "debug", "info", "warning", "error", "fatal"],
      doc: "Lowest level written to console and file.",
    },
    logMaxBytes: int(10 * 1024 * 1024, "Rotate the log file at this size.", 1024),
    logMaxFiles: int(5, "Rotated log files kept.", 1),
    hostname: str("0.0.0.0", "Address both listeners bind to."),
    httpPort: port(8080, "HTTP API and web client port (0 = pick a free port)."),
    webSocketPort: port(8089, "WebSocket port; equal to httpPort means one listener serves both."),
    reusePort: bool(
      false,
      "Set SO_REUSEPORT (Linux): several node processes share the same ports; the kernel spreads connections.",
    ),
    rpcPort: port(
      9001,
      "Accepted for compatibility with the Go seed and unused: cluster traffic goes through Redis.",
    ),
    httpUrl: str(
      "localhost:8080",
      "Public host:port of the HTTP API (shown to clients and in /system/state).",
    ),
    webSocketUrl: str(
      "localhost:8089",
      "Public host:port of the WebSocket listener (used by the web client).",
    ),
  },
  redis: {
    addr: str(
      "localhost:6379",
      "Redis host:port (cluster mode only); with redis.cluster, seed nodes host:port,host:port,…",
    ),
    cluster: bool(false, "Redis is a Redis Cluster (keys hash-tagged per slot, sharded pub/sub)."),
    password: str("", "Redis password."),
    DB: int(0, "Redis database number (a Redis Cluster has 0 only).", 0, 15),
    waitReplicas: int(
      0,
      "After each inbox append, WAIT for this many replicas; fewer in redis.waitTimeout fails the send (1024).",
      0,
      16,
    ),
    waitTimeout: int(1000, "How long an append WAITs for redis.waitReplicas (ms).", 1, 60_000),
    commandTimeout: int(
      5000,
      "A command fails when Redis answered nothing for this long (hung, not busy: a send answers 1024); ≥ waitTimeout + 1 s (ms).",
      100,
      120_000,
    ),
    poolSize: int(30, "Accepted for compatibility; node-redis multiplexes one connection per role.", 1),
    minIdleConns: int(30, "Accepted for compatibility; node-redis has no idle pool.", 0),
  },
  im: {
    appIds: { type: "intList", default: [101, 102, 103, 104], doc: "Allowed appIds; empty list = any." },
    maxUserIdBytes: int(19, "Longest userId in UTF-8 bytes (the Go servers refused 20 or more).", 1, 1024),
    multiDevice: {
      type: "enum",
      default: "multi",
      values: ["multi", "single"],
      doc: "multi: every device of a user stays connected; single: a new login kicks the older ones.",
    },
    enterExitPushes: bool(true, "Push enter/exit to the whole app on login/last logout."),
    maxFrameBytes: int(64 * 1024, "Largest text frame accepted; larger frames close with 1009.", 256),
    msgIdDedupTtl: seconds(12 * 3600, "How long an HTTP msgId / clientMsgId is remembered (s)."),
    maxMessageBytes: int(16 * 1024, "Largest `msg` body in UTF-8 bytes (code 1017).", 1),
    maxTypeBytes: int(32, "Longest message `type`.", 1),
    maxRoomBytes: int(64, "Longest room name in UTF-8 bytes.", 1),
    roomEventMaxMembers: int(
      1000,
      "joinRoom/leaveRoom pushes go to the room only while it has at most this many members (0 = never).",
      0,
    ),
    historyMaxLimit: int(100, "Largest page of `history` and `sync`.", 1),
    sendBufferBytes: int(
      1024 * 1024,
      "Slow-consumer cap on a connection's unsent bytes, queued live entries included (close 4004).",
      1024,
    ),
    editWindow: seconds(86_400, "How long after sending the sender may edit a message (s).", 0),
    recallWindow: seconds(120, "How long after sending the sender may recall a message (s).", 0),
    sendStallTimeout: seconds(
      30,
      "A connection whose unsent bytes stay over half of im.sendBufferBytes this long is a slow consumer (4004) (s).",
      0.1,
    ),
  },
  heartbeat: {
    interval: seconds(30, "Interval clients are told to heartbeat at (s).", 1),
    timeout: seconds(360, "Close connections whose last heartbeat is older than this (s).", 1),
    sweep: seconds(30, "Sweep period (s).", 0.01),
    firstSweep: seconds(3, "Delay of the first sweep (s).", 0),
    deliveredFlush: seconds(
      1,
      "Period of writing the delivered marks that moved (bounds what a kill -9 repeats to a login without lastSeq); 0 = sweep/close only (s).",
      0,
    ),
    onlineWindow: seconds(180, "A user counts as online with a heartbeat within this window (s).", 1),
    // Off by default: the heartbeat sweep already closes dead peers, and Deno's timer counts the frames this
    // node has read, so a node minutes behind its sockets (a login storm) would close healthy clients.
    idleTimeout: seconds(
      0,
      "WebSocket-level ping/pong idle timeout (s): ping after half of it without a frame read, close after the rest; 0 = off.",
      0,
    ),
    loginTimeout: seconds(
      30,
      "Close (4009) a WebSocket not logged in this long after connect or logout (s); 0 disables.",
      0,
    ),
    closeGrace: seconds(
      5,
      "A peer that has not answered a close the server sent within this long is disconnected (s).",
      0.1,
    ),
  },
  http: {
    corsOrigin: str("*", "Access-Control-Allow-Origin of HTTP replies; empty = no CORS header."),
    maxBodyBytes: int(256 * 1024, "Largest HTTP request body.", 1024),
    bodyTimeout: seconds(
      30,
      "Longest HTTP API body upload; over it: HTTP 408, code 1001, connection closed (s); 0 = off.",
      0,
    ),
    guard: {
      type: "enum",
      default: "http",
      values: ["http", "all", "off"],
      doc: "Guarded listeners: http = the HTTP API; all = WebSocket too (a costly relay); off.",
    },
    headerTimeout: seconds(
      10,
      "Guarded listeners: a complete request head must arrive within this of connecting (s); 0 = off.",
      0,
    ),
    idleTimeout: seconds(
      60,
      "Guarded listeners: close a keep-alive connection idle this long between requests (s); 0 = off.",
      0,
    ),
    maxConnections: int(
      1024,
      "Guarded listeners: HTTP connections at once (tunnels not counted); beyond: 503, code 1013.",
      1,
    ),
  },
  inbox: {
    maxEntries: int(1000, "Entries kept per user inbox; older ones are dropped.", 1),
    maxConversations: int(
      1000,
      "Conversations kept per user inbox; a new one beyond it drops the least recent from the list.",
      1,
    ),
    maxAge: seconds(7 * 24 * 3600, "Age after which inbox entries are dropped (s).", 1),
    syncPageSize: int(200, "Entries read from the store per replay page.", 1, 10000),
  },
  store: {
    engine: {
      type: "enum",
      default: "sqlite",
      values: ["sqlite", "memory"],
      doc:
        "Embedded mode's store: sqlite = durable file at store.path; memory = lost on restart. Cluster mode always uses Redis.",
    },
    path: str(
      "data/imserver.db",
      "SQLite database file (directory created); the process needs write access to it.",
    ),
    sync: {
      type: "enum",
      default: "full",
      values: ["full", "normal"],
      doc:
        "A send is acknowledged once on disk (full: survives power loss) or handed to the OS (normal: survives kill -9).",
    },
    backupDir: str("data/backups", "Where POST /api/v1/store/backup (deno task backup) writes its copies."),
    backupKeep: int(
      10,
      "Backups kept in store.backupDir: the newest; older copies are removed after each backup (0 = keep all).",
      0,
    ),
  },
  cluster: {
    enabled: bool(false, "false: embedded single node (store.engine); true: Redis cluster mode."),
    nodeId: str("", "Node id; empty = derived from hostname and ports."),
    presenceTtl: seconds(30, "Deprecated: use presence.ttl (still read when presence.ttl is not set).", 2),
  },
  receipts: {
    delivered: bool(
      true,
      "Senders get `delivered` receipts when recipients `ack` (read receipts are always on).",
    ),
    coalesce: seconds(
      0.05,
      "> 0: receipts to one sender from one reader that come while a receipt send is in flight go out as one (no wait otherwise; the value is no longer a window); 0 = each on its own.",
    ),
  },
  rooms: {
    historyForNewMembers: bool(
      true,
      "history {room} reads the room's timeline, so later members see earlier messages; false: only the caller's inbox.",
    ),
  },
  presence: {
    ttl: seconds(
      30,
      "Cluster: a node's presence and registration expire this long after its last refresh (every ttl/3) (s).",
      2,
    ),
    pushInterval: seconds(0.25, "enter/exit of an app are coalesced over this interval (s).", 0.01),
    batchInterval: seconds(1, "Interval of batched `presence` pushes in large apps (s).", 0.01),
    batchAbove: int(
      100,
      "Apps with more connections on a node get one batched `presence` push per interval.",
      0,
    ),
    batchMax: int(100, "Most user ids in one `presence` push (and most enter/exit frames per interval).", 1),
  },
  auth: {
    mode: {
      type: "enum",
      default: "none",
      values: ["none", "jwt"],
      doc: "none: trust userId; jwt: require token.",
    },
    secret: str("", "HS256 secret (jwt mode)."),
    publicKey: str("", "PEM public key for RS256/ES256 (jwt mode)."),
    jwksUrl: str("", "JWKS URL or file path (jwt mode)."),
    appClaim: str("app", "Claim that carries the appId."),
    clockSkew: seconds(30, "Allowed clock skew for exp/nbf (s)."),
    issuer: str("", "Required iss, if set."),
    audience: str("", "Required aud, if set."),
  },
  api: {
    keys: {
      type: "stringList",
      default: [],
      doc: "API keys; `key` or `key:101,102` (limited to appIds). Empty = no auth on the HTTP API.",
    },
    open: bool(false, "With auth.mode jwt, serve the HTTP API without api.keys anyway (explicit opt-out)."),
  },
  limits: {
    messagesPerSecond: seconds(
      2000,
      "Per-connection token-bucket rate (frames/s); high so bots and benchmarks pass, lower it for the Internet.",
      0.1,
    ),
    messageBurst: int(4000, "Per-connection token-bucket burst.", 1),
    maxConnections: int(100000, "Global connection cap of this node.", 1),
    maxConnectionsPerIp: int(20000, "Connections per client IP.", 1),
    loginsPerIpPerMinute: int(100000, "Login attempts per IP per minute.", 1),
    maxRoomsPerUser: int(100, "Rooms one user may be in.", 1),
    maxRoomMembers: int(10000, "Members of one room.", 1),
    maxQueuedFrames: int(
      1000,
      "Requests of one connection waiting to be handled; more are refused (1012).",
      1,
    ),
    maxQueuedBytes: int(1024 * 1024, "Bytes of requests of one connection waiting to be handled.", 1024),
    recipientsPerMinute: int(60, "Distinct sendMsg recipients per connection per minute (1012 beyond).", 1),
    loginsPerConnectionPerMinute: int(10, "Logins on one connection per minute (1023 beyond).", 1),
    allowedOrigins: {
      type: "stringList",
      default: [],
      doc: "Origins allowed to open a WebSocket; empty = any (like the Go servers).",
    },
  },
  drain: {
    window: seconds(10, "Spread of reconnect hints given to clients on drain (s).", 0),
    deadline: seconds(20, "Longest graceful shutdown (s).", 1),
    loginsPerSecond: int(0, "Login rate shaping per node (0 = unlimited).", 0),
  },
  webhooks: {
    url: str("", "POST online/offline events here; empty = off."),
    queueSize: int(10000, "Events buffered while the receiver is down.", 1),
    maxRetries: int(8, "Retries per event with exponential backoff.", 0),
  },
  admin: {
    keys: {
      type: "stringList",
      default: [],
      doc:
        "Admin console keys (/admin, /api/v1/admin); empty = the console is off. api.keys are not admin keys.",
    },
    history: int(600, "Seconds of per-second samples kept for the console's charts.", 60, 3600),
  },
} as const satisfies Record<string, Record<string, FieldSpec>>;

type Leaf<F> = F extends { type: "int" | "number" } ? number
  : F extends { type: "bool" } ? boolean
  : F extends { type: "intList" } ? number[]
  : F extends { type: "stringList" } ? string[]
  : F extends { type: "enum"; values: readonly (infer V)[] } ? V
  : string;

/** The validated configuration, typed from {@linkcode SCHEMA}. */
export type Config = {
  -readonly [S in keyof typeof SCHEMA]: {
    -readonly [K in keyof typeof SCHEMA[S]]: Leaf<typeof SCHEMA[S][K]>;
  };
};
