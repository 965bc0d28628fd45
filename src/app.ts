// createApp(deps): composes the feature plugins into one Elysia app. No env reads, no I/O: tests import this.
import { Elysia } from "elysia";
import { createPasswordHasher, type PasswordHasher } from "./auth/password.ts";
import { authRoutes } from "./auth/routes.ts";
import { createAuthService, USER_CACHE_ENTRIES, type UserCache } from "./auth/service.ts";
import { createTokenCodec } from "./auth/jwt.ts";
import { bodyLimit } from "./body-limit.ts";
import { createCache } from "./cache.ts";
import { systemClock, type Clock } from "./clock.ts";
import { DEFAULT_LIMITS, type Config, type Limits } from "./config.ts";
import { docsRoutes } from "./docs/routes.ts";
import { cors, errorHandling } from "./http.ts";
import { messageRoutes } from "./messages/routes.ts";
import { createMessageRateLimit } from "./messages/rate-limit.ts";
import { createMessageService, PAGE_CACHE_BYTES, type PageCache } from "./messages/service.ts";
import { createMessageWriter } from "./messages/writer.ts";
import { createMetrics } from "./ops/metrics.ts";
import { operationsRoutes, type RequestLog } from "./ops/routes.ts";
import { createHub } from "./realtime/hub.ts";
import { createPersonChannel } from "./realtime/person.ts";
import { createLocalBus, type FanoutBus } from "./realtime/bus.ts";
import { createLocalPresence, type Presence } from "./realtime/presence.ts";
import { CLOSE, WS_LIMITS } from "./realtime/protocol.ts";
import { realtimeRoutes } from "./realtime/routes.ts";
import { roomRoutes } from "./rooms/routes.ts";
import { readRoutes } from "./reads/routes.ts";
import { createReadService } from "./reads/service.ts";
import { ACCESS_CACHE_ENTRIES, createRoomAccess, type AccessCache } from "./rooms/access.ts";
import { createRoomService } from "./rooms/service.ts";
import { searchRoutes } from "./search/routes.ts";
import { createSearchService } from "./search/service.ts";
import type { Store } from "./store/store.ts";
import { webRoutes } from "./web/routes.ts";

export const VERSION = "0.1.0";
/** How long shutdown waits for open HTTP requests after the sockets are closed. */
export const SHUTDOWN_GRACE_MS = 5000;
/** How long a change made in the database behind the server's back (not through it) may go unseen. */
export const CACHE_TTL_MS = 1000;

export interface AppDeps {
  store: Store;
  /** Limits not given are DEFAULT_LIMITS. */
  config: Pick<Config, "secretKey" | "accessTokenTtlSeconds" | "bcryptCost" | "corsOrigins"> & {
    limits?: Partial<Limits>;
  };
  clock?: Clock;
  /** bcrypt at `config.bcryptCost` unless given (tests hold hashes back to see what waits for them). */
  passwords?: PasswordHasher;
  log?: (line: Record<string, unknown>) => void;
  /** Gets one JSON line per request; without it requests are not logged (metrics are kept either way). */
  requestLog?: RequestLog;
  /** Several instances on one PostgreSQL: the fanout bus and shared presence (default: this process only). */
  cluster?: { bus: FanoutBus; presence: Presence };
}

export async function createApp(deps: AppDeps) {
  const { store, config } = deps;
  const clock = deps.clock ?? systemClock;
  const limits: Limits = { ...DEFAULT_LIMITS, ...config.limits };
  const log = deps.log ?? ((line) => console.error(JSON.stringify(line)));
  const tokens = await createTokenCodec({ secret: config.secretKey, ttlSeconds: config.accessTokenTtlSeconds, clock });
  const bus = deps.cluster?.bus ?? createLocalBus();
  // Read caches are only as good as the bus that tells this instance about other instances' changes.
  const cached = { ttlMs: CACHE_TTL_MS, clock, enabled: () => bus.status().connected };
  const pages: PageCache = createCache({ capacity: PAGE_CACHE_BYTES, weigh: (page) => page.byteLength, ...cached });
  const users: UserCache = createCache({ capacity: USER_CACHE_ENTRIES, ...cached });
  const memberships: AccessCache = createCache({ capacity: ACCESS_CACHE_ENTRIES, ...cached });
  const access = createRoomAccess({ store, cache: memberships });
  const people = createPersonChannel({ store, bus, clock });
  const hub = createHub({
    forward: people.busEvent,
    forwardReconnected: people.busReconnected,
    presence: deps.cluster?.presence ?? createLocalPresence(),
    bus,
    store,
    clock,
    invalidate: {
      room: (roomId) => pages.invalidate(roomId),
      members: (roomId) => memberships.invalidate(roomId),
      everything() {
        pages.clear();
        users.clear();
        memberships.clear();
      },
    },
  });
  const events = people.wrap(hub.events);
  const auth = createAuthService({
    store,
    tokens,
    passwords: deps.passwords ?? createPasswordHasher(config.bcryptCost),
    clock,
    signupsPerAddress: limits.signupsPerAddress,
    // Resolves once every other instance has closed the user's sockets (Hub.revoke): the change waits for it.
    onRevoke: (userId) => {
      people.closeUser(userId, CLOSE.POLICY, "token revoked");
      return hub.revoke(userId);
    },
    onDeleted: (user) => rooms.leaveAll(user.id),
    users,
  });
  const metrics = createMetrics();
  const writer = createMessageWriter({ store, clock, events, onCommit: metrics.observeCommit });
  await hub.start();
  const rooms = createRoomService({ store, clock, events, access });
  const rateLimit = createMessageRateLimit({ perSecond: limits.messagesPerSecond, burst: limits.messageBurst, clock });
  const messages = createMessageService({ store, writer, events, clock, rateLimit, pages, access });
  const reads = createReadService({ store, access, clock, events });
  const search = createSearchService({ store, access });

  // Bun has one WebSocket configuration per server, so the socket limits are set here, not on the route.
  const app = new Elysia({
    websocket: {
      maxPayloadLength: WS_LIMITS.maxFrameBytes,
      idleTimeout: WS_LIMITS.idleTimeoutSeconds,
      backpressureLimit: WS_LIMITS.backpressureBytes,
      closeOnBackpressureLimit: false,
    },
  })
    .use(errorHandling(log))
    .use(operationsRoutes({ store, hub, writer, metrics, requestLog: deps.requestLog }))
    .use(cors(config.corsOrigins))
    .use(bodyLimit())
    .use(
      docsRoutes({
        title: "Bun chat server",
        version: VERSION,
        description: "Accounts, rooms, history and live rooms.",
      }),
    )
    .get("/", () => ({
      message: "Chat Application API",
      docs: "/docs",
      websocket: "/ws/{room_id}?token=your_jwt_token",
      chat_client: "/chat",
    }))
    .get("/health", () => ({ status: "healthy" }))
    .use(webRoutes())
    .use(authRoutes(auth))
    .use(roomRoutes(auth, rooms))
    .use(messageRoutes(auth, messages))
    .use(readRoutes(auth, reads))
    .use(searchRoutes(auth, search))
    .use(
      realtimeRoutes({
        auth,
        access,
        reads,
        writer,
        hub,
        people,
        clock,
        corsOrigins: config.corsOrigins,
        rateLimit,
        socketsPerUser: limits.socketsPerUser,
      }),
    )
    .onStart(({ server }) => {
      if (server) {
        hub.attach(server);
        people.attach(server);
      }
    });

  /**
   * Graceful stop: stop accepting, store what is in flight (so every ack already owed is sent), close every
   * socket with 1001, give open requests up to SHUTDOWN_GRACE_MS, then close the store.
   */
  async function shutdown(): Promise<void> {
    const stopped = app.server?.stop(false);
    await writer.drain();
    await reads.flush();
    // The other instances hear these sockets' departures before this one stops listening and talking.
    const leaving = hub.closeAll(CLOSE.GOING_AWAY, "server shutting down");
    people.closeAll(CLOSE.GOING_AWAY, "server shutting down");
    await Promise.race([Promise.all([stopped, leaving]), Bun.sleep(SHUTDOWN_GRACE_MS)]);
    // Elysia runs after-response hooks (request log, metrics) in a later turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    await writer.drain();
    await hub.stop();
    await store.close();
  }

  return { app, auth, access, rooms, messages, reads, writer, store, hub, people, shutdown };
}

export type App = Awaited<ReturnType<typeof createApp>>["app"];
