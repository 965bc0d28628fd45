// The hostile review's holes in accounts and storage (issue 14, items 1-3, 5, 9, 10), each tried as the attack
// first: racing admin signups and demotions, a token outliving its account, other people's emails, case twins,
// and a client_id reused in another room.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import postgres from "postgres";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { drizzle as drizzleSqlite } from "drizzle-orm/bun-sqlite";
import { migrations as postgresMigrations } from "../drizzle/postgres/index.ts";
import { migrations as sqliteMigrations } from "../drizzle/sqlite/index.ts";
import { CACHE_TTL_MS } from "../src/app.ts";
import { applyMigrations, type EmbeddedMigrations } from "../src/store/migrations.ts";
import { openPostgresStore } from "../src/store/postgres/store.ts";
import { openSqliteStore } from "../src/store/sqlite/store.ts";
import { ConflictError, type Store } from "../src/store/store.ts";
import { createTestApp, dialect, scratchDatabase, testClock, type TestApp } from "./support.ts";
import { TestSocket } from "./ws-client.ts";

type Account = Awaited<ReturnType<TestApp["user"]>>;
const TRIALS = 5;

const signupBody = (username: string, role?: "admin") => ({
  username,
  email: `${username}@example.com`,
  password: `${username}-password`,
  role,
});

describe(`one first admin (${dialect})`, () => {
  test(`20 concurrent admin signups on an empty database make exactly one admin (${TRIALS} trials)`, async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const t = await createTestApp();
      try {
        const answers = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            t.request("POST", "/auth/signup", { body: signupBody(`racer${i}`, "admin") }),
          ),
        );
        const statuses = answers.map((a) => a.status).sort();
        expect(statuses).toEqual([201, ...Array(19).fill(403)]);
        expect(answers.filter((a) => a.status === 403).every((a) => a.json.code === "ADMIN_SIGNUP_FORBIDDEN")).toBe(
          true,
        );
        const admins = (await t.store.listUsers()).filter((u) => u.role === "admin");
        expect(admins).toHaveLength(1);
      } finally {
        await t.dispose();
      }
    }
  }, 60_000); // a scratch database per trial on PostgreSQL

  test("while the database has no admin (the only one was demoted by SQL), the next admin signup wins", async () => {
    const t = await createTestApp();
    try {
      const plain = await t.user("plain");
      expect(plain.role).toBe("user");
      const first = await t.request("POST", "/auth/signup", { body: signupBody("first", "admin") });
      expect([first.status, first.json.role]).toEqual([201, "admin"]);
      const second = await t.request("POST", "/auth/signup", { body: signupBody("second", "admin") });
      expect([second.status, second.json.code]).toEqual([403, "ADMIN_SIGNUP_FORBIDDEN"]);
    } finally {
      await t.dispose();
    }
  });
});

describe(`the last admin stays (${dialect})`, () => {
  let t: TestApp;
  let root: Account;
  beforeAll(async () => {
    t = await createTestApp();
    root = await t.user("root", { role: "admin" });
  });
  afterAll(() => t.dispose());

  const admins = async () => (await t.store.listUsers()).filter((u) => u.role === "admin").map((u) => u.username);
  const demote = (who: Account, by: Account) =>
    t.request("PATCH", `/users/${who.id}`, { token: by.token, body: { role: "user" } });

  test("demoting the only admin, even oneself, is 409 LAST_ADMIN and changes nothing", async () => {
    const refused = await demote(root, root);
    expect([refused.status, refused.json.code]).toEqual([409, "LAST_ADMIN"]);
    expect(await admins()).toEqual(["root"]);
    // Nothing changed, so the token still works.
    expect((await t.request("GET", "/auth/me", { token: root.token })).status).toBe(200);
  });

  test(`two admins demoting each other at the same moment leave one admin (${TRIALS * 2} trials)`, async () => {
    for (let trial = 0; trial < TRIALS * 2; trial++) {
      // Two fresh admins, made by root, then root steps down so that only the pair is left.
      const a = await t.user(`pair-a${trial}`, { role: "admin", adminToken: root.token });
      const b = await t.user(`pair-b${trial}`, { role: "admin", adminToken: root.token });
      expect((await demote(root, a)).status).toBe(200);
      const answers = await Promise.all([demote(a, b), demote(b, a)]);
      const statuses = answers.map((r) => r.status).sort();
      // One wins; the other is refused as the last admin, or finds its own token revoked by the winner.
      expect(statuses[0]).toBe(200);
      expect([401, 409]).toContain(statuses[1]!);
      const left = await admins();
      expect(left).toHaveLength(1);
      // Root comes back as an admin for the next trial, by the one left.
      const survivor = left[0] === a.username ? a : b;
      const promoted = await t.request("PATCH", `/users/${root.id}`, {
        token: survivor.token,
        body: { role: "admin" },
      });
      expect(promoted.status).toBe(200);
      root = {
        ...root,
        token: (await t.request("POST", "/auth/login", { body: { username: "root", password: root.password } })).json
          .access_token,
      };
      expect((await demote(survivor, root)).status).toBe(200);
    }
  }, 30_000);
});

describe(`a token names its account by id (${dialect})`, () => {
  test("after an account is deleted and its name signed up again, the old token is refused", async () => {
    const clock = testClock();
    const t = await createTestApp({ clock });
    try {
      const old = await t.user("reborn");
      const payload = JSON.parse(Buffer.from(old.token.split(".")[1]!, "base64url").toString());
      expect(payload.sub).toBe(String(old.id));
      expect((await t.request("GET", "/auth/me", { token: old.token })).json.username).toBe("reborn");

      expect(await t.store.deleteUser(old.id)).toBe(true);
      clock.advance(CACHE_TTL_MS); // deleted behind the server's back: seen within the cache's TTL
      const again = await t.user("reborn");
      expect(again.id).not.toBe(old.id);
      const stale = await t.request("GET", "/auth/me", { token: old.token });
      expect([stale.status, stale.json.code]).toEqual([401, "TOKEN_REVOKED"]);
      expect((await t.request("GET", "/auth/me", { token: again.token })).json.id).toBe(again.id);
    } finally {
      await t.dispose();
    }
  });
});

describe(`other people's emails are private (${dialect})`, () => {
  let t: TestApp;
  let admin: Account;
  let alice: Account;
  let bob: Account;
  let roomId: number;
  beforeAll(async () => {
    t = await createTestApp();
    t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
    admin = await t.user("admin", { role: "admin" });
    alice = await t.user("alice");
    bob = await t.user("bob");
    roomId = (await t.request("POST", "/rooms/", { token: admin.token, body: { name: "mail" } })).json.id;
    expect(
      (await t.request("POST", `/rooms/${roomId}/messages`, { token: alice.token, body: { content: "hi from alice" } }))
        .status,
    ).toBe(201);
  });
  afterAll(async () => {
    await t.app.stop(true);
    await t.dispose();
  });

  test("history, a posted message and the live frames carry no email; /auth/me and the admin's /users do", async () => {
    for (const reader of [bob, alice, admin]) {
      const page = await t.request("GET", `/rooms/${roomId}/messages`, { token: reader.token });
      expect(page.json[0].user.username).toBe("alice");
      expect(page.text).not.toContain("@example.com");
    }
    const posted = await t.request("POST", `/rooms/${roomId}/messages`, {
      token: bob.token,
      body: { content: "and bob" },
    });
    expect(posted.text).not.toContain("@example.com");

    const socket = new TestSocket(`ws://127.0.0.1:${t.app.server!.port}/ws/${roomId}?token=${bob.token}`);
    await socket.opened;
    await socket.next((f) => f.type === "active_users");
    await t.request("POST", `/rooms/${roomId}/messages`, { token: alice.token, body: { content: "live" } });
    await socket.next((f) => f.type === "message" && f.content === "live");
    expect(JSON.stringify(socket.frames)).not.toContain("@example.com");
    socket.ws.close();

    expect((await t.request("GET", "/auth/me", { token: bob.token })).json.email).toBe("bob@example.com");
    const users = await t.request("GET", "/users", { token: admin.token });
    expect(users.json.map((u: { email: string }) => u.email)).toContain("alice@example.com");
    expect((await t.request("GET", "/users", { token: bob.token })).status).toBe(403);
  });
});

describe(`usernames and emails ignore case (${dialect})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
    await t.user("alice");
  });
  afterAll(() => t.dispose());

  test("Alice, ALICE and ALICE@EXAMPLE.COM are taken by alice; the names are shown as typed", async () => {
    for (const username of ["Alice", "ALICE", "aLiCe"]) {
      const answer = await t.request("POST", "/auth/signup", {
        body: { ...signupBody(username), email: `${username}-other@example.com` },
      });
      expect([answer.status, answer.json.code]).toEqual([400, "USERNAME_TAKEN"]);
    }
    const email = await t.request("POST", "/auth/signup", {
      body: { ...signupBody("alice2"), email: "ALICE@EXAMPLE.COM" },
    });
    expect([email.status, email.json.code]).toEqual([400, "EMAIL_TAKEN"]);
    const mixed = await t.request("POST", "/auth/signup", { body: signupBody("MixedCase") });
    expect(mixed.json.username).toBe("MixedCase");
  });

  test("a username may not start or end with . or - (alice. is not a new account)", async () => {
    for (const username of ["alice.", ".alice", "alice-", "-alice"]) {
      const answer = await t.request("POST", "/auth/signup", { body: signupBody(username) });
      expect(answer.status).toBe(422);
    }
    expect((await t.request("POST", "/auth/signup", { body: signupBody("a.l-i_ce") })).status).toBe(201);
  });

  test("login accepts any case and signs in the same account", async () => {
    for (const username of ["alice", "ALICE", "Alice"]) {
      const login = await t.request("POST", "/auth/login", { body: { username, password: "alice-password" } });
      expect(login.status).toBe(200);
      const me = await t.request("GET", "/auth/me", { token: login.json.access_token });
      expect(me.json.username).toBe("alice");
    }
  });

  test("concurrent signups of case twins make one account", async () => {
    const answers = await Promise.all(
      ["carol", "Carol", "CAROL", "cArol"].map((username, i) =>
        t.request("POST", "/auth/signup", { body: { ...signupBody(username), email: `carol${i}@example.com` } }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([201, 400, 400, 400]);
  });
});

/** The embedded migrations up to (not including) `tag`: a database as an older release left it. */
function migrationsBefore(embedded: EmbeddedMigrations, tag: string): EmbeddedMigrations {
  const end = embedded.journal.entries.findIndex((e) => e.tag === tag);
  expect(end).toBeGreaterThan(0);
  return { journal: { entries: embedded.journal.entries.slice(0, end) }, sql: embedded.sql };
}

const TWINS = [
  ["alice", "alice@example.com", "hash-1"],
  ["Alice", "ALICE@example.com", "hash-2"],
  ["ALICE", "third@example.com", "hash-3"],
] as const;
const INSERT_TWIN = "INSERT INTO users (username, email, hashed_password, role, created_at) VALUES ";

describe(`a database that already holds case twins (${dialect})`, () => {
  test("migrates, every twin keeps its account, and no new twin can be made", async () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    if (dialect === "sqlite") {
      const path = joinPath(tmpdir(), `twins-${process.pid}-${Date.now()}.db`);
      const old = new Database(path, { create: true });
      applyMigrations(drizzleSqlite(old), migrationsBefore(sqliteMigrations, "0001_case_twin_columns"));
      for (const [u, e, h] of TWINS) old.run(`${INSERT_TWIN} (?, ?, ?, 'user', 0)`, [u, e, h]);
      old.close();
      store = openSqliteStore(path);
      cleanup = async () => {
        await store.close();
        for (const suffix of ["", "-wal", "-shm"])
          await Bun.file(path + suffix)
            .delete()
            .catch(() => {});
      };
    } else {
      const scratch = await scratchDatabase("chat_twins");
      const old = postgres(scratch.url, { max: 1, onnotice: () => {} });
      await applyMigrations(drizzlePostgres(old), migrationsBefore(postgresMigrations, "0004_case_twin_columns"));
      for (const [u, e, h] of TWINS) await old.unsafe(`${INSERT_TWIN} ($1, $2, $3, 'user', now())`, [u, e, h]);
      await old.end();
      store = await openPostgresStore(scratch.url, { poolSize: 2 });
      cleanup = async () => {
        await store.close();
        await scratch.drop();
      };
    }
    try {
      for (const [username, email, hash] of TWINS) {
        const found = await store.findUserByUsername(username);
        expect([found?.username, found?.email, found?.passwordHash]).toEqual([username, email, hash]);
        expect((await store.findUserByEmail(email))?.username).toBe(username);
      }
      // Another spelling finds the oldest; a new twin is refused.
      expect((await store.findUserByUsername("aLICE"))?.username).toBe("alice");
      const twin = {
        username: "aLiCe",
        email: "new@example.com",
        passwordHash: "h",
        role: "user" as const,
        createdAt: new Date(),
      };
      expect(store.createUser(twin)).rejects.toEqual(new ConflictError("username"));
      expect(store.createUser({ ...twin, username: "fresh", email: "Alice@Example.com" })).rejects.toEqual(
        new ConflictError("email"),
      );
    } finally {
      await cleanup();
    }
  });
});

describe(`a client_id belongs to its room (${dialect})`, () => {
  let t: TestApp;
  let admin: Account;
  let alice: Account;
  let rooms: number[];
  beforeAll(async () => {
    t = await createTestApp();
    t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
    admin = await t.user("admin", { role: "admin" });
    alice = await t.user("alice");
    rooms = [];
    for (const name of ["one", "two"])
      rooms.push((await t.request("POST", "/rooms/", { token: admin.token, body: { name } })).json.id);
  });
  afterAll(async () => {
    await t.app.stop(true);
    await t.dispose();
  });

  const post = (roomId: number, content: string, client_id: string) =>
    t.request("POST", `/rooms/${roomId}/messages`, { token: alice.token, body: { content, client_id } });

  test("over HTTP: the same client_id in two rooms is two messages, and a resend in each room is stored once", async () => {
    const [one, two] = [rooms[0]!, rooms[1]!];
    const first = await post(one, "in room one", "x");
    const second = await post(two, "in room two", "x");
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.json.id).not.toBe(first.json.id);
    expect([second.json.room_id, second.json.content]).toEqual([two, "in room two"]);
    expect((await post(one, "resent", "x")).json).toEqual(first.json);
    expect((await post(two, "resent", "x")).json).toEqual(second.json);
    const history = await t.request("GET", `/rooms/${two}/messages`, { token: alice.token });
    expect(history.json.map((m: { content: string }) => m.content)).toEqual(["in room two"]);
  });

  test("over sockets: the ack in the second room names the message stored there", async () => {
    const acks: number[] = [];
    for (const roomId of rooms) {
      const socket = new TestSocket(`ws://127.0.0.1:${t.app.server!.port}/ws/${roomId}?token=${alice.token}`);
      await socket.opened;
      await socket.next((f) => f.type === "active_users");
      const ack = await socket.say(`socket message in ${roomId}`, "y");
      acks.push(ack.id);
      const stored = await t.store.findMessage(ack.id);
      expect([stored?.roomId, stored?.content]).toEqual([roomId, `socket message in ${roomId}`]);
      socket.ws.close();
    }
    expect(new Set(acks).size).toBe(2);
  });
});
