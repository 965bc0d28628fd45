// GET /rooms/ at size: one reader in 100 private rooms holding 1,000,000 messages between them, with read
// positions 50 messages behind (people who keep up) and with none (everything unread, each count capped), one request
// at a time (a page load).
//
// Usage: bun bench/rooms-list.ts [--db sqlite|postgres] [--messages 1000000] [--rooms 100] [--seconds 5]
//                                [--root <checkout>]   (the server to measure, e.g. a worktree of an older commit)
// Prints one JSON object: seeding time and, per case, requests/s and latency p50/p99 (ms).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Database } from "bun:sqlite";
import postgres from "postgres";
import { openPostgresStore } from "../src/store/postgres/store.ts";
import { openSqliteStore } from "../src/store/sqlite/store.ts";
import { httpLoad, type HttpReport } from "./http-load.ts";
import { freePort, spawn, stop, waitFor200 } from "./procs.ts";

const AUTHORS = 10;
const PASSWORD = "bench-password";
/** How far behind the newest message the reader's position sits in the "keeps up" case. */
const BEHIND = 50;
/**
 * The seeded messages are not indexed for search: this measures room listings, and the indexer backfilling a million
 * messages would share the CPU with what is measured.
 */
const SKIP_SEARCH_INDEX = "UPDATE search_indexed SET through_id = (SELECT max(id) FROM messages)";

export interface RoomsListReport {
  db: "sqlite" | "postgres";
  messages: number;
  rooms: number;
  seedSeconds: number;
  keepingUp: HttpReport;
  neverRead: HttpReport;
}

/** SQL that works on both databases once the tables exist: the reader, the authors, rooms, members, messages. */
function seedStatements(rooms: number, hash: string, series: string): string[] {
  const now = "1767225600000";
  return [
    `INSERT INTO users (username, email, hashed_password, role, created_at) VALUES ('reader', 'reader@example.com', '${hash}', 'user', ${now})`,
    ...Array.from(
      { length: AUTHORS },
      (_, i) =>
        `INSERT INTO users (username, email, hashed_password, role, created_at) VALUES ('author${i}', 'author${i}@example.com', '${hash}', 'user', ${now})`,
    ),
    ...Array.from(
      { length: rooms },
      (_, i) => `INSERT INTO rooms (name, visibility, created_at) VALUES ('room ${i}', 'private', ${now})`,
    ),
    `INSERT INTO room_members (room_id, user_id, role, joined_at) SELECT id, 1, 'owner', ${now} FROM rooms`,
    // Room r gets every rooms-th message, authors take turns: ids interleave across rooms as in a live server.
    `INSERT INTO messages (room_id, user_id, content, created_at)
     SELECT 1 + (i % ${rooms}), 2 + (i % ${AUTHORS}), 'message number ' || i || ' of the bench, long enough to look like chat', ${now}
     FROM ${series}`,
  ];
}

export async function measureRoomsList(options: {
  db: "sqlite" | "postgres";
  messages: number;
  rooms: number;
  seconds: number;
  root: string;
  pgAdminUrl: string;
}): Promise<RoomsListReport> {
  const dir = await mkdtemp(join(tmpdir(), "rooms-list-"));
  const hash = await Bun.password.hash(PASSWORD, { algorithm: "bcrypt", cost: 4 });
  let dbUrl: string;
  let dropDb = async () => {};
  const t0 = performance.now();
  if (options.db === "sqlite") {
    const file = join(dir, "chat.db");
    await openSqliteStore(file).close(); // our schema, migrated
    const db = new Database(file);
    db.run("PRAGMA journal_mode = WAL");
    const series = `(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${options.messages - 1}) SELECT i FROM n)`;
    db.transaction(() => {
      for (const statement of seedStatements(options.rooms, hash, series)) db.run(statement);
    })();
    db.run(
      `INSERT INTO read_positions (user_id, room_id, message_id, updated_at) SELECT 1, room_id, max(id) - ${BEHIND}, 0 FROM messages GROUP BY room_id`,
    );
    db.run(SKIP_SEARCH_INDEX);
    db.close();
    dbUrl = `sqlite:${file}`;
  } else {
    const name = `bench_rooms_${process.pid}_${Date.now().toString(36)}`;
    const admin = postgres(options.pgAdminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(options.pgAdminUrl);
    url.pathname = `/${name}`;
    dbUrl = url.toString();
    dropDb = async () => {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    };
    await (await openPostgresStore(dbUrl, { poolSize: 1 })).close();
    const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
    const ms = (statement: string) => statement.replaceAll("1767225600000", "to_timestamp(1767225600)");
    await sql.begin(async (tx) => {
      for (const statement of seedStatements(
        options.rooms,
        hash,
        `generate_series(0, ${options.messages - 1}) AS s(i)`,
      ))
        await tx.unsafe(ms(statement));
      await tx.unsafe(
        `INSERT INTO read_positions (user_id, room_id, message_id, updated_at) SELECT 1, room_id, max(id) - ${BEHIND}, now() FROM messages GROUP BY room_id`,
      );
      await tx.unsafe(SKIP_SEARCH_INDEX);
      await tx.unsafe("DELETE FROM search_backfill");
    });
    await sql.unsafe("VACUUM ANALYZE");
    await sql.end();
  }
  const seedSeconds = Math.round((performance.now() - t0) / 100) / 10;

  const port = await freePort();
  const proc = spawn([process.execPath, join(options.root, "src/main.ts"), "serve"], {
    cwd: dir,
    log: join(dir, "server"),
    env: {
      DATABASE_URL: dbUrl,
      PORT: String(port),
      HOST: "127.0.0.1",
      NODE_ENV: "production",
      SECRET_KEY: "bench-secret-key-that-is-long-enough-0123456789",
      BCRYPT_COST: "4",
    },
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitFor200(`${base}/ready`, proc, performance.now(), 60_000, 20);
    const login = await fetch(`${base}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "reader", password: PASSWORD }),
    });
    const token = ((await login.json()) as { access_token: string }).access_token;
    const headers = { authorization: `Bearer ${token}` };
    const listed = (await (await fetch(`${base}/rooms/`, { headers })).json()) as unknown[];
    if (listed.length !== options.rooms)
      throw new Error(`GET /rooms/ listed ${listed.length} rooms, not ${options.rooms}`);
    const keepingUp = await httpLoad(`${base}/rooms/`, { connections: 1, seconds: options.seconds, headers });
    // Never read: the reader's positions go, so each private room counts from its start (capped at 1,001 rows).
    if (options.db === "sqlite") {
      await stop(proc);
      const db = new Database(dbUrl.slice("sqlite:".length));
      db.run("DELETE FROM read_positions");
      db.close();
      return await measureAgain();
    }
    const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
    await sql`DELETE FROM read_positions`;
    await sql.end();
    const neverRead = await httpLoad(`${base}/rooms/`, { connections: 1, seconds: options.seconds, headers });
    return { db: options.db, messages: options.messages, rooms: options.rooms, seedSeconds, keepingUp, neverRead };

    async function measureAgain(): Promise<RoomsListReport> {
      const again = spawn([process.execPath, join(options.root, "src/main.ts"), "serve"], {
        cwd: dir,
        log: join(dir, "server2"),
        env: {
          DATABASE_URL: dbUrl,
          PORT: String(port),
          HOST: "127.0.0.1",
          NODE_ENV: "production",
          SECRET_KEY: "bench-secret-key-that-is-long-enough-0123456789",
          BCRYPT_COST: "4",
        },
      });
      try {
        await waitFor200(`${base}/ready`, again, performance.now(), 60_000, 20);
        const neverRead = await httpLoad(`${base}/rooms/`, { connections: 1, seconds: options.seconds, headers });
        return { db: options.db, messages: options.messages, rooms: options.rooms, seedSeconds, keepingUp, neverRead };
      } finally {
        await stop(again);
      }
    }
  } finally {
    await stop(proc);
    await dropDb();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    strict: true,
    options: {
      db: { type: "string", default: "sqlite" },
      messages: { type: "string", default: "1000000" },
      rooms: { type: "string", default: "100" },
      seconds: { type: "string", default: "5" },
      root: { type: "string", default: join(import.meta.dir, "..") },
    },
  });
  const db = values.db as "sqlite" | "postgres";
  if (db !== "sqlite" && db !== "postgres") throw new Error("--db must be sqlite or postgres");
  const report = await measureRoomsList({
    db,
    messages: Number(values.messages),
    rooms: Number(values.rooms),
    seconds: Number(values.seconds),
    root: values.root!,
    pgAdminUrl: process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test",
  });
  console.log(JSON.stringify(report));
}
