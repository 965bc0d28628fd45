// Moving in from the seed: seed-shaped databases (SQLite, and PostgreSQL on a PostgreSQL run) imported into ours,
// then used over HTTP with the old passwords; re-runs, dry runs, failures and the CLI.
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { importSeed, type ImportSummary } from "../src/import/seed-import.ts";
import { parseSeedTimestamp } from "../src/import/seed-reader.ts";
import type { Store } from "../src/store/store.ts";
import { createTestApp, dialect, scratchDatabase, type TestApp } from "./support.ts";

const work = mkdtempSync(join(tmpdir(), "seed-import-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// passlib's bcrypt output, made once: "oldpassword" at passlib's default cost 12, "adminpass123" at cost 4.
const OLD_PASSWORD_COST_12 = "$2b$12$2PLIEEsUPwqX0xuRc2Mg1.WjOzPlNar5jlWUAMjyAhS.lWFV.dpEm";
const ADMIN_PASSWORD_COST_4 = "$2b$04$ZHFMFZJPIZI.AFKS.G1JHOy16grCALyLCC7B01nG91HI8Fl/YXq.K";

interface SeedFixture {
  users: [id: number, username: string, email: string, hash: string, role: string, createdAt: string][];
  rooms: [id: number, name: string, description: string | null, createdAt: string][];
  messages: [id: number, content: string, timestamp: string, userId: number, roomId: number][];
}

async function fixture(): Promise<SeedFixture> {
  const bobHash = await Bun.password.hash("oldpassword", { algorithm: "bcrypt", cost: 4 });
  return {
    users: [
      [1, "admin", "admin@example.com", ADMIN_PASSWORD_COST_4, "ADMIN", "2025-01-30 09:00:00.000000"],
      [2, "alice", "alice@example.com", OLD_PASSWORD_COST_12, "USER", "2025-01-30 09:05:00"],
      [3, "bob", "bob@example.com", bobHash, "user", "2025-01-30 09:10:00.123456"],
      // Our database already has a different "carol": the seed's carol and her messages are skipped.
      [4, "carol", "carol@seed.example.com", bobHash, "user", "2025-01-30 09:15:00"],
    ],
    rooms: [
      [1, "General", "General discussion", "2025-01-30 09:20:00"],
      [2, "Random", null, "2025-01-30 09:21:00"],
      [3, "General", "the seed never made names unique", "2025-01-30 09:22:00"],
    ],
    // Rows are written out of id order; several share one second.
    messages: [
      [9, "last", "2025-01-31 10:32:00", 2, 1],
      [1, "hello", "2025-01-31 10:30:00.000000", 2, 1],
      [2, "hi alice", "2025-01-31 10:30:00", 3, 1],
      [3, "welcome", "2025-01-31 10:30:00", 1, 1],
      [4, "in the other general", "2025-01-31 10:31:00", 3, 3],
      [5, "carol here", "2025-01-31 10:31:00", 4, 1],
      [6, "   ", "2025-01-31 10:31:00", 2, 1],
      [7, "x".repeat(4001), "2025-01-31 10:31:00", 2, 2],
      [8, "  padded  ", "2025-01-31 10:32:00.000000", 3, 1],
      [10, "from a user the seed lost", "2025-01-31 10:33:00", 99, 1],
    ],
  };
}

/** General's history as the seed showed it (id order): seed ids 1, 2, 3, 8, 9. */
const GENERAL_HISTORY = [
  ["alice", "hello", "2025-01-31T10:30:00.000Z"],
  ["bob", "hi alice", "2025-01-31T10:30:00.000Z"],
  ["admin", "welcome", "2025-01-31T10:30:00.000Z"],
  ["bob", "padded", "2025-01-31T10:32:00.000Z"],
  ["alice", "last", "2025-01-31T10:32:00.000Z"],
];

const FIRST_RUN = {
  users: { imported: 3, existing: 0, skipped: 1 },
  rooms: { imported: 3, existing: 0, skipped: 0 },
  messages: { imported: 6, existing: 0, skipped: 4 },
};

/** A SQLite seed as SQLAlchemy creates it: DATETIME text, an Enum stored by name in VARCHAR(5), no foreign key checks. */
function sqliteSeed(file: string, seed: SeedFixture): string {
  const db = new Database(file, { create: true });
  db.run(`CREATE TABLE users (id INTEGER NOT NULL, username VARCHAR, email VARCHAR, hashed_password VARCHAR,
    role VARCHAR(5), created_at DATETIME, PRIMARY KEY (id))`);
  db.run("CREATE UNIQUE INDEX ix_users_username ON users (username)");
  db.run("CREATE UNIQUE INDEX ix_users_email ON users (email)");
  db.run(
    "CREATE TABLE chat_rooms (id INTEGER NOT NULL, name VARCHAR, description VARCHAR, created_at DATETIME, PRIMARY KEY (id))",
  );
  db.run(`CREATE TABLE messages (id INTEGER NOT NULL, content TEXT, timestamp DATETIME, user_id INTEGER, room_id INTEGER,
    PRIMARY KEY (id), FOREIGN KEY(user_id) REFERENCES users (id), FOREIGN KEY(room_id) REFERENCES chat_rooms (id))`);
  for (const row of seed.users) db.run("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)", row);
  for (const row of seed.rooms) db.run("INSERT INTO chat_rooms VALUES (?, ?, ?, ?)", row);
  for (const row of seed.messages) db.run("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", row);
  db.close();
  return `sqlite:${file}`;
}

/** A PostgreSQL seed in a scratch database: a native enum, `timestamp without time zone`, a session zone that is not UTC. */
async function postgresSeed(seed: SeedFixture): Promise<{ url: string; drop(): Promise<void> }> {
  const scratch = await scratchDatabase("seed_test");
  // Before the connection below opens: a database's settings apply to sessions that start after them.
  const admin = postgres(scratch.url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`ALTER DATABASE ${new URL(scratch.url).pathname.slice(1)} SET timezone TO 'America/New_York'`);
  await admin.end();
  const sql = postgres(scratch.url, { max: 1, onnotice: () => {} });
  await sql.unsafe(`
    CREATE TYPE userrole AS ENUM ('ADMIN', 'USER');
    CREATE TABLE users (id SERIAL PRIMARY KEY, username VARCHAR UNIQUE, email VARCHAR UNIQUE, hashed_password VARCHAR,
      role userrole, created_at TIMESTAMP WITHOUT TIME ZONE);
    CREATE TABLE chat_rooms (id SERIAL PRIMARY KEY, name VARCHAR, description VARCHAR, created_at TIMESTAMP WITHOUT TIME ZONE);
    CREATE TABLE messages (id SERIAL PRIMARY KEY, content TEXT, timestamp TIMESTAMP WITHOUT TIME ZONE,
      user_id INTEGER REFERENCES users (id), room_id INTEGER REFERENCES chat_rooms (id));`);
  await sql.begin(async (tx) => {
    // The seed lost a user (message 10): let the row in past the foreign key, as a restored dump could.
    await tx`SET LOCAL session_replication_role = replica`;
    for (const [id, username, email, hash, role, at] of seed.users) {
      await tx`INSERT INTO users VALUES (${id}, ${username}, ${email}, ${hash}, ${role.toUpperCase()}::userrole, ${at}::timestamp)`;
    }
    for (const [id, n, description, at] of seed.rooms)
      await tx`INSERT INTO chat_rooms VALUES (${id}, ${n}, ${description}, ${at}::timestamp)`;
    for (const [id, content, at, userId, roomId] of seed.messages) {
      await tx`INSERT INTO messages VALUES (${id}, ${content}, ${at}::timestamp, ${userId}, ${roomId})`;
    }
  });
  await sql.end();
  return scratch;
}

/** Everything an import could change. */
async function snapshot(store: Store) {
  const rooms = await store.listRooms();
  const history = await Promise.all(rooms.map((r) => store.listMessages(r.id, { limit: 100, after: 0 })));
  return { users: await store.listUsers(), rooms, messages: history.flat().map(({ author, ...m }) => m) };
}

const tallies = (s: ImportSummary) => ({ users: s.users, rooms: s.rooms, messages: s.messages });

const seedKinds = dialect === "postgres" ? (["sqlite", "postgres"] as const) : (["sqlite"] as const);

describe.each(seedKinds)(`import from a %s seed (into ${dialect})`, (seedKind) => {
  let t: TestApp;
  let from: string;
  let dropSeed = async () => {};
  let carol: Awaited<ReturnType<TestApp["user"]>>;

  beforeAll(async () => {
    t = await createTestApp();
    carol = await t.user("carol");
    const seed = await fixture();
    if (seedKind === "sqlite") from = sqliteSeed(join(work, `seed-${seedKind}-${dialect}.db`), seed);
    else ({ url: from, drop: dropSeed } = await postgresSeed(seed));
  });
  afterAll(async () => {
    await t.dispose();
    await dropSeed();
  });

  test("a dry run reports what would happen and writes nothing", async () => {
    const before = await snapshot(t.store);
    const lines: string[] = [];
    const summary = await importSeed({ from, store: t.store, dryRun: true, log: (l) => lines.push(l) });
    expect(summary.dryRun).toBe(true);
    expect(tallies(summary)).toEqual(FIRST_RUN);
    expect(lines[0]).toBe("seed: 4 users, 3 rooms, 10 messages");
    expect(await snapshot(t.store)).toEqual(before);
  });

  test("imports users with their passwords and roles, rooms, and messages in the seed's order", async () => {
    const summary = await importSeed({ from, store: t.store });
    expect(tallies(summary)).toEqual(FIRST_RUN);
    expect(summary.warnings).toEqual([
      "user 4 (carol) skipped: the username belongs to another account here",
      'room 3 "General" is named "General (2)": another seed room has that name',
      "1 message skipped: its author was skipped (seed ids 5)",
      "1 message skipped: empty content (seed ids 6)",
      "1 message skipped: content over 4,000 characters (seed ids 7)",
      "1 message skipped: its author is not in the seed (seed ids 10)",
    ]);

    // The old passwords work, passlib's cost-12 hash included; the seed's admin is an admin.
    const login = async (username: string, password: string) => {
      const response = await t.request("POST", "/auth/login", { body: { username, password } });
      expect(response.status).toBe(200);
      return response.json.access_token as string;
    };
    const alice = await login("alice", "oldpassword");
    await login("bob", "oldpassword");
    const admin = await login("admin", "adminpass123");
    expect(
      (await t.request("POST", "/auth/login", { body: { username: "carol", password: "oldpassword" } })).status,
    ).toBe(401);
    const me = await t.request("GET", "/auth/me", { token: admin });
    expect(me.json).toMatchObject({
      username: "admin",
      email: "admin@example.com",
      role: "admin",
      created_at: "2025-01-30T09:00:00.000Z",
    });
    expect((await t.request("GET", "/users", { token: admin })).status).toBe(200);
    expect((await t.request("GET", "/users", { token: alice })).status).toBe(403);
    const bob = (await t.store.findUserByUsername("bob"))!;
    expect(bob).toMatchObject({ role: "user", createdAt: new Date("2025-01-30T09:10:00.123Z") });

    const rooms = (await t.request("GET", "/rooms/", { token: alice })).json as {
      id: number;
      name: string;
      description: string | null;
    }[];
    expect(rooms.map((r) => [r.name, r.description])).toEqual([
      ["General", "General discussion"],
      ["Random", null],
      ["General (2)", "the seed never made names unique"],
    ]);
    const [general, random, general2] = rooms as [(typeof rooms)[0], (typeof rooms)[0], (typeof rooms)[0]];

    const history = await t.request("GET", `/rooms/${general.id}/messages?limit=100`, { token: alice });
    const oldestFirst = (
      history.json as { id: number; content: string; timestamp: string; user: { username: string } }[]
    ).reverse();
    expect(oldestFirst.map((m) => [m.user.username, m.content, m.timestamp])).toEqual(GENERAL_HISTORY);
    expect(oldestFirst.map((m) => m.id)).toEqual(oldestFirst.map((m) => m.id).sort((a, b) => a - b));
    expect(
      (await t.request("GET", `/rooms/${general2.id}/messages`, { token: alice })).json.map(
        (m: { content: string }) => m.content,
      ),
    ).toEqual(["in the other general"]);
    expect((await t.request("GET", `/rooms/${random.id}/messages`, { token: alice })).json).toEqual([]);

    // Chat goes on in an imported room, after its history.
    const posted = await t.request("POST", `/rooms/${general.id}/messages`, {
      token: alice,
      body: { content: "we moved!" },
    });
    expect(posted.status).toBe(201);
    expect(posted.json.id).toBeGreaterThan(oldestFirst.at(-1)!.id);
    const latest = await t.request("GET", `/rooms/${general.id}/messages?limit=1`, { token: carol.token });
    expect(latest.json[0]).toMatchObject({ content: "we moved!", user: { username: "alice" } });
  });

  test("a second run changes nothing and says so", async () => {
    const before = await snapshot(t.store);
    const summary = await importSeed({ from, store: t.store });
    expect(tallies(summary)).toEqual({
      users: { imported: 0, existing: 3, skipped: 1 },
      rooms: { imported: 0, existing: 3, skipped: 0 },
      messages: { imported: 0, existing: 6, skipped: 4 },
    });
    expect(await snapshot(t.store)).toEqual(before);
  });

  test("a failure while writing leaves our database as it was", async () => {
    const seed = await fixture();
    seed.users.push([5, "dave", "dave@example.com", ADMIN_PASSWORD_COST_4, "USER", "2025-02-01 08:00:00"]);
    seed.messages.push([11, "dave's first", "2025-02-01 08:01:00", 5, 2]);
    const file = join(work, `seed-more-${seedKind}-${dialect}.db`);
    const more = sqliteSeed(file, seed);
    const before = await snapshot(t.store);
    // Someone signs up as "dave" between the import's checks and its write.
    const racing: Store = {
      ...t.store,
      async importRecords(batch, options) {
        await t.store.createUser({
          username: "dave",
          email: "other-dave@example.com",
          passwordHash: "x",
          role: "user",
          createdAt: new Date(),
        });
        return t.store.importRecords(batch, options);
      },
    };
    await expect(importSeed({ from: more, store: racing })).rejects.toThrow(/our database changed while importing/);
    const after = await snapshot(t.store);
    expect(after.users.filter((u) => u.username !== "dave")).toEqual(before.users);
    expect({ ...after, users: [] }).toEqual({ ...before, users: [] });
  });

  test("a seed that cannot be read fails before anything is written", async () => {
    const before = await snapshot(t.store);
    await expect(importSeed({ from: `sqlite:${join(work, "missing.db")}`, store: t.store })).rejects.toThrow(
      /no such file/,
    );
    const other = new Database(join(work, `not-a-seed-${seedKind}-${dialect}.db`), { create: true });
    other.run("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)");
    other.close();
    await expect(importSeed({ from: `sqlite:${other.filename}`, store: t.store })).rejects.toThrow(
      /cannot read the seed database: no such table: users/,
    );
    expect(await snapshot(t.store)).toEqual(before);
  });
});

describe("seed timestamps", () => {
  test("SQLAlchemy's SQLite text is UTC, micro- or no fraction", () => {
    expect(parseSeedTimestamp("2025-01-31 10:30:00.000000")).toBe(Date.UTC(2025, 0, 31, 10, 30));
    expect(parseSeedTimestamp("2025-01-31 10:30:00")).toBe(Date.UTC(2025, 0, 31, 10, 30));
    expect(parseSeedTimestamp("2025-01-31T10:30:00.123456")).toBe(Date.UTC(2025, 0, 31, 10, 30, 0, 123));
    expect(parseSeedTimestamp("2025-01-31 12:30:00+02:00")).toBe(Date.UTC(2025, 0, 31, 10, 30));
    expect(parseSeedTimestamp("yesterday")).toBeNull();
    expect(parseSeedTimestamp(null)).toBeNull();
  });
});

describe("import-seed command", () => {
  const main = join(import.meta.dir, "..", "src", "main.ts");
  const run = async (args: string[], ours: string) => {
    const child = Bun.spawn(["bun", main, "import-seed", ...args], {
      cwd: work,
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? work, DATABASE_URL: `sqlite:${ours}` },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stdout, stderr] = await Promise.all([
      child.exited,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    return { code, stdout, stderr };
  };
  // Read with a plain connection: a store would hold the file's exclusive lock.
  const users = (file: string) => {
    if (!existsSync(file)) return [];
    const db = new Database(file, { readonly: true });
    try {
      return db.query("SELECT username, role FROM users ORDER BY id").all() as { username: string; role: string }[];
    } finally {
      db.close();
    }
  };

  test("--dry-run prints the summary and writes nothing; without it, imports", async () => {
    const seed = sqliteSeed(join(work, "cli-seed.db"), await fixture());
    const ours = join(work, "cli-ours.db");
    const dry = await run(["--from", seed, "--dry-run"], ours);
    expect(dry.stderr).toContain("seed: 4 users, 3 rooms, 10 messages");
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("dry run: nothing was written");
    // No "carol" here yet, so hers are imported too.
    expect(dry.stdout).toContain("messages: 7 imported, 0 already here, 3 skipped");
    expect(users(ours)).toEqual([]);

    const real = await run([`--from=${seed}`], ours);
    expect(real.code).toBe(0);
    expect(real.stdout).toContain("users:    4 imported, 0 already here, 0 skipped");
    expect(users(ours).map((u) => [u.username, u.role])).toEqual([
      ["admin", "admin"],
      ["alice", "user"],
      ["bob", "user"],
      ["carol", "user"],
    ]);
  });

  test("bad arguments exit 2, an unreadable seed exits 1", async () => {
    const ours = join(work, "cli-bad.db");
    for (const args of [
      [],
      ["--from"],
      ["--from", "ftp://x"],
      ["--from", "sqlite::memory:"],
      ["--from", "sqlite:x.db", "--force"],
    ]) {
      const result = await run(args, ours);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("usage: chat-server import-seed");
    }
    const missing = await run(["--from", `sqlite:${join(work, "nope.db")}`], ours);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("import failed, nothing was written: cannot read the seed database: no such file");
  }, 30_000); // six processes, each a Bun start: seconds on a busy machine
});
