// What the server relies on inside its dependencies, beyond their documented API: each test fails when an upgrade
// changes it, naming the code that depends on it.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { drizzle as drizzleSqlite } from "drizzle-orm/bun-sqlite";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { Elysia } from "elysia";
import postgres from "postgres";
import { migrations as postgresMigrations } from "../drizzle/postgres/index.ts";
import { migrations as sqliteMigrations } from "../drizzle/sqlite/index.ts";
import { applyMigrations, toMigrationMeta } from "../src/store/migrations.ts";

const ROOT = join(import.meta.dir, "..");

describe("Elysia forwards a Bun upgrade's handlers (src/realtime/routes.ts passes its own in the upgrade data)", () => {
  const seen: string[] = [];
  const closed = Promise.withResolvers<void>();
  const handlers = {
    open(ws: { data: { tag: string }; send(text: string): void }) {
      seen.push(`open ${ws.data.tag}`);
      ws.send("opened");
    },
    message(ws: { send(text: string): void }, text: string | Buffer) {
      seen.push(`message ${text}`);
      ws.send(`echo ${text}`);
    },
    close() {
      seen.push("close");
      closed.resolve();
    },
  };
  const app = new Elysia()
    .get("/raw", ({ request, server }) => {
      if (server?.upgrade(request, { data: { tag: "raw", ...handlers } })) return;
      return new Response("upgrade required", { status: 426 });
    })
    .listen({ port: 0, hostname: "127.0.0.1" });
  afterAll(() => app.stop());

  test("open, message and close reach the handlers in the data, and the data reaches them", async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${app.server!.port}/raw`);
    const received: string[] = [];
    const twoFrames = Promise.withResolvers<void>();
    socket.onmessage = (event) => {
      received.push(String(event.data));
      if (received.length === 1) socket.send("hello");
      if (received.length === 2) twoFrames.resolve();
    };
    await twoFrames.promise;
    socket.close();
    await closed.promise;
    expect(received).toEqual(["opened", "echo hello"]);
    expect(seen).toEqual(["open raw", "message hello", "close"]);
  });
});

describe("Drizzle's migrator internals (src/store/migrations.ts calls db.dialect.migrate itself)", () => {
  test("the embedded migrations are what Drizzle's own reader makes of the drizzle/ folders", () => {
    expect(toMigrationMeta(sqliteMigrations)).toEqual(
      readMigrationFiles({ migrationsFolder: join(ROOT, "drizzle/sqlite") }),
    );
    expect(toMigrationMeta(postgresMigrations)).toEqual(
      readMigrationFiles({ migrationsFolder: join(ROOT, "drizzle/postgres") }),
    );
  });

  test("a drizzle database still has dialect.migrate and session, on both drivers", () => {
    const client = postgres("postgres://nobody@127.0.0.1:1/none", { max: 1 });
    for (const db of [drizzleSqlite(new Database(":memory:")), drizzlePostgres(client)] as object[]) {
      const { dialect, session } = db as { dialect?: { migrate?: unknown }; session?: unknown };
      expect(typeof dialect?.migrate).toBe("function");
      expect(session).toBeDefined();
    }
    void client.end();
  });

  test("applied to an empty SQLite database: every migration recorded once, with Drizzle's hash and time", () => {
    const sqlite = new Database(":memory:");
    const db = drizzleSqlite(sqlite);
    applyMigrations(db, sqliteMigrations);
    applyMigrations(db, sqliteMigrations);
    const rows = sqlite.query("SELECT hash, created_at FROM __drizzle_migrations ORDER BY id").all() as {
      hash: string;
      created_at: number;
    }[];
    expect(rows).toEqual(toMigrationMeta(sqliteMigrations).map((m) => ({ hash: m.hash, created_at: m.folderMillis })));
    expect(sqlite.query("SELECT count(*) AS n FROM users").get()).toEqual({ n: 0 });
    sqlite.close();
  });
});

describe("postgres-js's write timer on close (patches/postgres@3.4.9.patch; see patches/README.md)", () => {
  test("both teardown paths of the connection Bun loads reset the timer and the unsent bytes", () => {
    const source = readFileSync(join(ROOT, "node_modules/postgres/src/connection.js"), "utf8");
    const clears = [...source.matchAll(/\n(\s*)clearImmediate\(nextWriteTimer\)\n([\s\S]*?)\n\s*socket/g)];
    // terminate() and closed(): each must leave the timer unset, or the reconnected connection never writes.
    expect(clears.length).toBe(2);
    for (const [, , after] of clears) expect(after).toContain("chunk = nextWriteTimer = null");
  });
});
