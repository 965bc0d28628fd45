// Operations: /ready, /metrics, request ids and the request log, Swagger UI served from our own assets,
// the stdout log sink, and the create-admin command.
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrations as sqliteMigrations } from "../drizzle/sqlite/index.ts";
import { createApp } from "../src/app.ts";
import { loggedPath } from "../src/ops/routes.ts";
import { createStdoutLog } from "../src/ops/stdout-log.ts";
import { migratePostgres, openPostgresStore } from "../src/store/postgres/store.ts";
import type { Store } from "../src/store/store.ts";
import { openSqliteStore } from "../src/store/sqlite/store.ts";
import { call, startServer } from "./process.ts";
import {
  createTestApp,
  dialect,
  openTestStore,
  postgresOnly,
  scratchDatabase,
  TEST_SECRET,
  type TestApp,
} from "./support.ts";
import { TestSocket } from "./ws-client.ts";

const config = { secretKey: TEST_SECRET, accessTokenTtlSeconds: 1800, bcryptCost: 4, corsOrigins: "*" as const };

/** An app on `store` whose request log lines are collected. */
async function appWithLog(store: Store) {
  const lines: Record<string, unknown>[] = [];
  const built = await createApp({ store, config, log: () => {}, requestLog: (line) => lines.push(JSON.parse(line)) });
  return { ...built, lines };
}

const get = (app: { handle(r: Request): Promise<Response> }, path: string, headers: Record<string, string> = {}) =>
  app.handle(new Request(`http://localhost${path}`, { headers }));

/** After-response hooks run in a later turn of the event loop. */
const afterResponses = () => new Promise((resolve) => setImmediate(resolve));

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.dispose());

describe(`GET /ready (${dialect})`, () => {
  test("200 when the store answers and every migration is applied", async () => {
    const ready = await t.request("GET", "/ready");
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: "ready" });
    expect(await t.store.migrationsApplied()).toBe(true);
  });

  test("503 with a detail when the store does not answer or lacks migrations", async () => {
    const store = await openTestStore();
    try {
      const down = await createApp({
        store: { ...store, ping: () => Promise.reject(new Error("connection refused")) },
        config,
        log: () => {},
      });
      const refused = await get(down.app, "/ready");
      expect(refused.status).toBe(503);
      expect((await refused.json()).detail).toBe("Database unavailable");

      const behind = await createApp({
        store: { ...store, migrationsApplied: async () => false },
        config,
        log: () => {},
      });
      const pending = await get(behind.app, "/ready");
      expect(pending.status).toBe(503);
      expect(await pending.json()).toMatchObject({ detail: "Database migrations are not applied", code: "NOT_READY" });
    } finally {
      await store.dispose();
    }
  });

  test("a SQLite database missing the newest migration reports it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ready-"));
    /** Our tables, made by hand; `recorded` is what the migrations table says, if it exists. */
    const database = (name: string, recorded?: number) => {
      const path = join(dir, name);
      const db = new Database(path);
      for (const statement of Object.values(sqliteMigrations.sql)
        .join("--> statement-breakpoint")
        .split("--> statement-breakpoint")) {
        db.run(statement);
      }
      if (recorded !== undefined) {
        db.run("CREATE TABLE __drizzle_migrations (id INTEGER PRIMARY KEY, hash text NOT NULL, created_at numeric)");
        db.run("INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('older', ?)", [recorded]);
      }
      db.close();
      return openSqliteStore(path, { migrate: false });
    };
    try {
      for (const store of [database("unrecorded.db"), database("older.db", 1)]) {
        expect(await store.migrationsApplied()).toBe(false);
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// SQLite's migrationsApplied is covered above.
describe.skipIf(dialect !== "postgres")(postgresOnly("migrationsApplied on PostgreSQL"), () => {
  test("false on a database never migrated, true once migrated", async () => {
    const scratch = await scratchDatabase("chat_ready");
    try {
      const bare = await openPostgresStore(scratch.url, { migrate: false, poolSize: 1 });
      expect(await bare.migrationsApplied()).toBe(false);
      await migratePostgres(scratch.url);
      expect(await bare.migrationsApplied()).toBe(true);
      await bare.close();
    } finally {
      await scratch.drop();
    }
  });
});

describe(`GET /metrics (${dialect})`, () => {
  test("Prometheus text: requests by route pattern and status, latency, writer batches, sockets and deliveries", async () => {
    const admin = await t.user("metrics-admin", { role: "admin" });
    const roomId = (await t.request("POST", "/rooms/", { token: admin.token, body: { name: "metrics" } })).json.id;
    t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
    const socket = new TestSocket(`ws://127.0.0.1:${t.app.server!.port}/ws/${roomId}?token=${admin.token}`);
    try {
      await socket.next((f) => f.type === "active_users");
      await t.request("POST", `/rooms/${roomId}/messages`, { token: admin.token, body: { content: "counted" } });
      await socket.next((f) => f.type === "message");
      await t.request("GET", "/rooms/424242", { token: admin.token });
      await t.request("GET", "/no/such/path/123");
      await afterResponses();

      const response = await get(t.app, "/metrics");
      expect(response.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
      const text = await response.text();
      expect(text).toContain(`http_requests_total{method="POST",route="/rooms/:id/messages",status="201"} 1`);
      expect(text).toContain(`http_requests_total{method="GET",route="/rooms/:id",status="404"} 1`);
      expect(text).toContain(`http_requests_total{method="GET",route="unmatched",status="404"} 1`);
      expect(text).toContain(`http_requests_total{method="GET",route="/ws/:room_id",status="101"} 1`);
      expect(text).not.toContain("424242");
      expect(text).toMatch(
        /http_request_duration_seconds_bucket\{method="POST",route="\/rooms\/:id\/messages",le="\+Inf"\} 1\n/,
      );
      expect(text).toContain("# TYPE http_request_duration_seconds histogram");
      expect(text).toContain("message_writer_batch_size_count 1");
      expect(text).toContain('message_writer_batch_size_bucket{le="1"} 1');
      expect(text).toContain("message_writer_commit_seconds_count 1");
      expect(text).toContain("messages_stored_total 1");
      expect(text).toContain("messages_delivered_total 1");
      expect(text).toContain("websocket_connections 1");
      expect(text).toContain("rooms_with_sockets 1");
      expect(text).toContain("slow_consumers_closed_total 0");
      // Every sample line is `name{labels} value` or `name value`.
      for (const line of text
        .trimEnd()
        .split("\n")
        .filter((l) => !l.startsWith("#"))) {
        expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$/);
      }
    } finally {
      socket.ws.close();
      await socket.closed;
      await t.app.stop();
    }
  });
});

describe(`request ids and the request log (${dialect})`, () => {
  test("one JSON line per request with the route pattern, status, duration and id; tokens in URLs are blanked", async () => {
    const store = await openTestStore();
    const { app, lines } = await appWithLog(store);
    try {
      const generated = await get(app, "/rooms/7?token=abc.def.ghi", {});
      const id = generated.headers.get("x-request-id");
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      const given = await get(app, "/health", { "x-request-id": "edge-42:abc" });
      expect(given.headers.get("x-request-id")).toBe("edge-42:abc");
      const refused = await get(app, "/health", { "x-request-id": 'bad id "quoted"' });
      // Replaced by a generated id (random hex may hold "bad" itself, so compare the whole value).
      expect(refused.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      await afterResponses();

      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatchObject({
        msg: "request",
        method: "GET",
        route: "/rooms/:id",
        path: "/rooms/7?token=REDACTED",
        status: 401,
        request_id: id,
      });
      expect(typeof lines[0]!.duration_ms).toBe("number");
      expect(lines[1]).toMatchObject({ route: "/health", status: 200, request_id: "edge-42:abc" });
      expect(JSON.stringify(lines)).not.toContain("abc.def.ghi");
    } finally {
      await store.dispose();
    }
  });

  test("loggedPath keeps the query but blanks every token value", () => {
    expect(loggedPath("http://h:1/ws/3?token=x.y.z&since=4")).toBe("/ws/3?token=REDACTED&since=4");
    expect(loggedPath("http://h/ws/3?since=4&token=abc&token=def")).toBe("/ws/3?since=4&token=REDACTED&token=REDACTED");
    expect(loggedPath("https://h/rooms/?mytoken=1")).toBe("/rooms/?mytoken=1");
    // Decoded first, as the query parser decodes: the name however spelled, and JWT-shaped text anywhere.
    const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
    expect(loggedPath(`http://h/ws/3?%74oken=${jwt}`)).toBe("/ws/3?%74oken=REDACTED");
    expect(loggedPath("http://h/ws/3?t%6Fk%65n=abc&since=4")).toBe("/ws/3?t%6Fk%65n=REDACTED&since=4");
    expect(loggedPath(`http://h/ws/3?other=${jwt.replaceAll(".", "%2E")}`)).toBe("/ws/3?other=REDACTED");
    expect(loggedPath(`http://h/rooms/${jwt}/messages?limit=5`)).toBe("/rooms/REDACTED/messages?limit=5");
    expect(loggedPath("http://h/chat/app.min.js?v=1.2.3")).toBe("/chat/app.min.js?v=1.2.3");
  });

  test("the stdout sink writes once per event-loop turn and stops, quietly, when stdout is gone", async () => {
    const writes: string[] = [];
    const sink = createStdoutLog((text) => writes.push(text));
    sink.log("a");
    sink.log("b");
    expect(writes).toEqual([]);
    await afterResponses();
    expect(writes).toEqual(["a\nb\n"]);

    let calls = 0;
    const broken = createStdoutLog(() => {
      calls++;
      throw Object.assign(new Error("EPIPE: broken pipe, write"), { code: "EPIPE" });
    });
    broken.log("lost");
    await afterResponses();
    broken.log("dropped");
    await afterResponses();
    expect(calls).toBe(1);

    // A full pipe whose reader goes away fails after the write returned: no unhandled rejection, the log stops.
    let later = 0;
    const brokenLater = createStdoutLog(() => {
      later++;
      return Promise.reject(Object.assign(new Error("EPIPE: broken pipe, write"), { code: "EPIPE" }));
    });
    brokenLater.log("lost");
    await afterResponses();
    brokenLater.log("dropped");
    await afterResponses();
    expect(later).toBe(1);
  });
});

describe("/docs", () => {
  test("Swagger UI from our own assets, booted on /docs/json with authorization kept", async () => {
    const page = await t.request("GET", "/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(page.text).not.toMatch(/https?:\/\//);
    const assets = [...page.text.matchAll(/(?:src|href)="(\/docs\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.sort()).toEqual([
      "/docs/assets/boot.js",
      "/docs/assets/swagger-ui-bundle.js",
      "/docs/assets/swagger-ui.css",
    ]);
    for (const path of assets) {
      const asset = await t.request("GET", path);
      expect(asset.status).toBe(200);
      expect(asset.headers.get("etag")).toBeTruthy();
    }
    const boot = (await t.request("GET", "/docs/assets/boot.js")).text;
    expect(boot).toContain('"url":"/docs/json"');
    expect(boot).toContain('"persistAuthorization":true');
    expect((await t.request("GET", "/docs/assets/swagger-ui-bundle.js")).text).toContain("SwaggerUIBundle");
    expect((await t.request("GET", "/docs/assets/../../etc/passwd")).status).toBe(404);
    expect((await t.request("GET", "/docs/json")).json.components.securitySchemes.bearer.scheme).toBe("bearer");
  });
});

describe("create-admin", () => {
  const work = mkdtempSync(join(tmpdir(), "create-admin-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const main = join(import.meta.dir, "..", "src", "main.ts");

  async function run(args: string[], env: Record<string, string>, stdin?: string) {
    const child = Bun.spawn(["bun", main, "create-admin", ...args], {
      cwd: work,
      env: { PATH: process.env.PATH!, HOME: work, DATABASE_URL: "sqlite:admins.db", BCRYPT_COST: "4", ...env },
      stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
      stdout: "pipe",
      stderr: "pipe",
    });
    return {
      code: await child.exited,
      stdout: await new Response(child.stdout).text(),
      stderr: await new Response(child.stderr).text(),
    };
  }

  test("creates an admin with the password from stdin or ADMIN_PASSWORD; a taken name changes nothing", async () => {
    const piped = await run(["--username", "root", "--email", "root@example.com"], {}, "piped-password\n");
    expect(piped).toMatchObject({ code: 0, stdout: expect.stringContaining("created admin root") });
    const fromEnv = await run(["--username=ops", "--email=ops@example.com"], { ADMIN_PASSWORD: "env-password" });
    expect(fromEnv.code).toBe(0);
    const taken = await run(["--username", "root", "--email", "new@example.com"], {
      ADMIN_PASSWORD: "another-password",
    });
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain("already taken");

    const store = openSqliteStore(join(work, "admins.db"));
    const root = (await store.findUserByUsername("root"))!;
    expect(root.role).toBe("admin");
    expect(root.email).toBe("root@example.com");
    expect(await Bun.password.verify("piped-password", root.passwordHash)).toBe(true);
    expect(root.passwordHash).toStartWith("$2b$04$");
    expect(await Bun.password.verify("env-password", (await store.findUserByUsername("ops"))!.passwordHash)).toBe(true);
    await store.close();
  });

  test("on a SQLite file a running server holds, it says to stop the server first and changes nothing", async () => {
    const server = await startServer({ DATABASE_URL: "sqlite:held.db" }, work);
    try {
      const held = await run(["--username", "boss", "--email", "boss@example.com"], {
        DATABASE_URL: "sqlite:held.db",
        ADMIN_PASSWORD: "boss-password",
      });
      expect(held.code).toBe(1);
      expect(held.stderr).toContain("stop the server first");
      expect((await call(server.url, "GET", "/auth/setup")).json).toEqual({ admin_exists: false });
    } finally {
      await server.stop();
    }
  });

  test("refuses a password argument, bad input and a short password with exit 2", async () => {
    expect((await run(["--username", "x1", "--email", "x1@example.com", "--password", "p"], {})).code).toBe(2);
    const bad = await run(["--username", "a b", "--email", "nope"], { ADMIN_PASSWORD: "short" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("username");
    expect(bad.stderr).toContain("email");
    expect(bad.stderr).toContain("password");
    expect(bad.stderr).not.toContain("short");
  });
});
