// createApp(deps): composes the feature plugins into one Elysia app. No env reads, no I/O: tests import this.
import { swagger } from "@elysiajs/swagger";
import { Elysia } from "elysia";
import { createPasswordHasher } from "./auth/password.ts";
import { authRoutes } from "./auth/routes.ts";
import { createAuthService } from "./auth/service.ts";
import { createTokenCodec } from "./auth/jwt.ts";
import { systemClock, type Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import { cors, errorHandling } from "./http.ts";
import { messageRoutes } from "./messages/routes.ts";
import { createMessageService } from "./messages/service.ts";
import { createMessageWriter } from "./messages/writer.ts";
import { createHub } from "./realtime/hub.ts";
import { createLocalPresence } from "./realtime/presence.ts";
import { CLOSE, WS_LIMITS } from "./realtime/protocol.ts";
import { realtimeRoutes } from "./realtime/routes.ts";
import { roomRoutes } from "./rooms/routes.ts";
import { createRoomService } from "./rooms/service.ts";
import type { Store } from "./store/store.ts";
import { webRoutes } from "./web/routes.ts";

export const VERSION = "0.1.0";
/** How long shutdown waits for open HTTP requests after the sockets are closed. */
export const SHUTDOWN_GRACE_MS = 5000;

export interface AppDeps {
  store: Store;
  config: Pick<Config, "secretKey" | "accessTokenTtlSeconds" | "bcryptCost" | "corsOrigins">;
  clock?: Clock;
  log?: (line: Record<string, unknown>) => void;
}

export async function createApp(deps: AppDeps) {
  const { store, config } = deps;
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? ((line) => console.error(JSON.stringify(line)));
  const tokens = await createTokenCodec({ secret: config.secretKey, ttlSeconds: config.accessTokenTtlSeconds, clock });
  const hub = createHub({ presence: createLocalPresence(), clock });
  const events = hub.events;
  const auth = createAuthService({
    store,
    tokens,
    passwords: createPasswordHasher(config.bcryptCost),
    clock,
    onRevoke: (userId) => hub.closeUser(userId, CLOSE.POLICY, "token revoked"),
  });
  const writer = createMessageWriter({ store, clock, events });
  const rooms = createRoomService({ store, clock, events });
  const messages = createMessageService({ store, writer, events, clock });

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
    .use(cors(config.corsOrigins))
    .use(
      swagger({
        path: "/docs",
        provider: "swagger-ui",
        exclude: ["/", "/health", "/docs", "/docs/json"],
        documentation: {
          info: { title: "Bun chat server", version: VERSION, description: "Accounts, rooms, history and live rooms." },
          components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
        },
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
    .use(realtimeRoutes({ auth, store, writer, hub, clock, corsOrigins: config.corsOrigins }))
    .onStart(({ server }) => {
      if (server) hub.attach(server);
    });

  /**
   * Graceful stop: stop accepting, store what is in flight (so every ack already owed is sent), close every
   * socket with 1001, give open requests up to SHUTDOWN_GRACE_MS, then close the store.
   */
  async function shutdown(): Promise<void> {
    const stopped = app.server?.stop(false);
    await writer.drain();
    hub.closeAll(CLOSE.GOING_AWAY, "server shutting down");
    await Promise.race([stopped, Bun.sleep(SHUTDOWN_GRACE_MS)]);
    await writer.drain();
    await store.close();
  }

  return { app, auth, rooms, messages, writer, store, hub, shutdown };
}

export type App = Awaited<ReturnType<typeof createApp>>["app"];
