// Test support: a fresh store per test file on the database the run targets, and an app with HTTP helpers.
// `bun test` runs on in-memory SQLite; with DATABASE_URL=postgres://... every store gets its own scratch database.
import { createApp } from "../src/app.ts";
import type { PasswordHasher } from "../src/auth/password.ts";
import type { Clock } from "../src/clock.ts";
import { DEFAULT_INSTANCE_TTL_SECONDS, type Limits } from "../src/config.ts";
import { createPostgresBus } from "../src/realtime/bus-postgres.ts";
import { createPostgresPresence } from "../src/realtime/presence-postgres.ts";
import { openPostgresStore } from "../src/store/postgres/store.ts";
import { openSqliteStore } from "../src/store/sqlite/store.ts";
import type { Store } from "../src/store/store.ts";
import { scratchDatabase } from "./scratch-database.ts";

export { scratchDatabase };

const baseUrl = process.env.DATABASE_URL ?? "";
export const dialect: "sqlite" | "postgres" = /^postgres(ql)?:\/\//.test(baseUrl) ? "postgres" : "sqlite";

/**
 * The name of a describe block that runs on PostgreSQL only (`describe.skipIf(dialect !== "postgres")`): without
 * DATABASE_URL it says why its tests show as skipped.
 */
export const postgresOnly = (name: string) =>
  dialect === "postgres"
    ? `${name} (PostgreSQL only)`
    : `${name} (PostgreSQL only: skipped, set DATABASE_URL=postgres://...)`;

export interface TestStore extends Store {
  /** The scratch database's URL on PostgreSQL, and the instance id its message notifications carry. */
  scratchUrl?: string;
  instanceId?: string;
  /** Closes the store and drops its scratch database. */
  dispose(): Promise<void>;
}

/** A fresh store on the run's database, or on SQLite when asked (the store contract runs on both). */
export async function openTestStore(kind: "sqlite" | "postgres" = dialect): Promise<TestStore> {
  if (kind === "postgres" && dialect !== "postgres") throw new Error("PostgreSQL needs DATABASE_URL=postgres://...");
  if (kind === "sqlite") {
    const store = openSqliteStore(":memory:");
    return Object.assign(store, { dispose: () => store.close() });
  }
  const scratch = await scratchDatabase("chat_test");
  const instanceId = `test-${crypto.randomUUID()}`;
  const store = await openPostgresStore(scratch.url, { poolSize: 4, instanceId });
  return Object.assign(store, {
    scratchUrl: scratch.url,
    instanceId,
    async dispose() {
      await store.close();
      await scratch.drop();
    },
  });
}

/** A settable clock for tests that check expiry. */
export function testClock(start = Date.UTC(2026, 0, 1)): Clock & { now: number; advance(ms: number): void } {
  const clock = Object.assign(() => clock.now, {
    now: start,
    advance(ms: number) {
      clock.now += ms;
    },
  });
  return clock;
}

/** A response body as JSON, or undefined when it is empty or not JSON. */
export function jsonOrUndefined(text: string): any {
  try {
    return text === "" ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789";

export async function createTestApp(
  options: {
    clock?: Clock;
    corsOrigins?: "*" | string[];
    accessTokenTtlSeconds?: number;
    /** The production defaults, except signups: see below. */
    limits?: Partial<Limits>;
    passwords?: PasswordHasher;
    /** PostgreSQL: the presence's log (failed heartbeats and leaves; dropped by default) and instance TTL. */
    presence?: { log?: (line: Record<string, unknown>) => void; ttlMs?: number };
  } = {},
) {
  const store = await openTestStore();
  // On PostgreSQL the app runs as it does in production: shared presence and the LISTEN/NOTIFY bus.
  const cluster =
    store.scratchUrl && store.instanceId
      ? {
          bus: createPostgresBus(store.scratchUrl, store.instanceId),
          presence: createPostgresPresence(
            store.scratchUrl,
            store.instanceId,
            options.presence?.ttlMs ?? DEFAULT_INSTANCE_TTL_SECONDS * 1000,
            options.presence?.log ?? (() => {}),
          ),
        }
      : undefined;
  const built = await createApp({
    store,
    cluster,
    clock: options.clock,
    passwords: options.passwords,
    config: {
      secretKey: TEST_SECRET,
      accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 1800,
      bcryptCost: 4,
      corsOrigins: options.corsOrigins ?? "*",
      // Tests sign their users up through app.handle, which has no client address, so they all share one
      // address's budget: no signup limit unless a test asks for one.
      limits: { signupsPerAddress: 0, ...options.limits },
    },
    log: () => {},
  });
  const { app } = built;
  await cluster?.presence.start(built.hub.presenceHandlers);

  async function request(
    method: string,
    path: string,
    init: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { ...init.headers };
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    let body: string | undefined;
    if (init.body !== undefined) {
      body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
      headers["content-type"] ??= "application/json";
    }
    const response = await app.handle(new Request(`http://localhost${path}`, { method, headers, body }));
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: jsonOrUndefined(text), text };
  }

  /** Signs up (first call may be admin) and logs in; returns the user JSON and a token. */
  async function user(username: string, options: { role?: "admin" | "user"; adminToken?: string } = {}) {
    const password = `${username}-password`;
    const signup = await request("POST", "/auth/signup", {
      body: { username, email: `${username}@example.com`, password, role: options.role },
      token: options.adminToken,
    });
    if (signup.status !== 201) throw new Error(`signup ${username}: ${signup.status} ${signup.text}`);
    const login = await request("POST", "/auth/login", { body: { username, password } });
    if (login.status !== 200) throw new Error(`login ${username}: ${login.status} ${login.text}`);
    return { ...signup.json, password, token: login.json.access_token as string };
  }

  return {
    ...built,
    request,
    user,
    async dispose() {
      await built.writer.drain();
      await built.reads.flush();
      await built.hub.stop();
      await cluster?.presence.stop();
      await store.dispose();
    },
  };
}

export type TestApp = Awaited<ReturnType<typeof createTestApp>>;
