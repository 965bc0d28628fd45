// Issue 21 on SQLite: the resend check kept in memory for the newest messages (resend-window.ts), a deleted room's
// messages purged in bounded chunks (room-purge.ts), and the migration to that layout on 1,000,000 messages.
// SLOW_TESTS=1 (.ci/run sets it) deletes a room of 900,000 messages instead of 100,000, and migrates 1,000,000
// messages instead of 100,000 (the two take about 3 minutes on a busy 2-core machine).
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrations } from "../drizzle/sqlite/index.ts";
import { applyMigrations, type EmbeddedMigrations } from "../src/store/migrations.ts";
import { createResendWindow, RESEND_WINDOW } from "../src/store/sqlite/resend-window.ts";
import { openSqliteStore } from "../src/store/sqlite/store.ts";
import { MissingReferenceError, type NewMessage, type Store } from "../src/store/store.ts";

// Once per CI run: the PostgreSQL suite runs this SQLite file too, at the small sizes.
const SLOW = process.env.SLOW_TESTS === "1" && !/^postgres/.test(process.env.DATABASE_URL ?? "");
const paths: string[] = [];
const open: Store[] = [];
function scratchPath(name: string): string {
  const path = join(tmpdir(), `floor-${name}-${process.pid}-${Date.now()}.db`);
  paths.push(path);
  return path;
}
function openStore(path: string, options: { resendWindow?: number } = {}): Store {
  const store = openSqliteStore(path, options);
  open.push(store);
  return store;
}
async function closeStore(store: Store): Promise<void> {
  open.splice(open.indexOf(store), 1);
  await store.close();
}
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  for (const path of paths.splice(0)) {
    for (const suffix of ["", "-wal", "-shm", ".lock"])
      await Bun.file(path + suffix)
        .delete()
        .catch(() => {});
  }
});

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);
async function seedPeople(store: Store) {
  const alice = await store.createUser({
    username: "alice",
    email: "alice@example.com",
    passwordHash: "h",
    role: "user",
    createdAt: at(0),
  });
  const bob = await store.createUser({
    username: "bob",
    email: "bob@example.com",
    passwordHash: "h",
    role: "user",
    createdAt: at(0),
  });
  const room = await store.createRoom({ name: "general", description: null, createdAt: at(0) });
  return { alice, bob, room };
}
/** A second connection to the file, to look at rows the store's readers no longer show. */
function count(path: string, sql: string, ...args: number[]): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query(sql).get(...args) as { n: number }).n;
  } finally {
    db.close();
  }
}

describe("resends on SQLite: found in memory for the newest messages", () => {
  test("a resend inside the window gets its original, also after a restart; outside it, it is a new message", async () => {
    const path = scratchPath("window");
    let store = openStore(path, { resendWindow: 50 });
    const { alice, bob, room } = await seedPeople(store);
    const message = (content: string, clientId: string | null, userId = alice.id): NewMessage => ({
      roomId: room.id,
      userId,
      content,
      clientId,
      createdAt: at(10),
    });
    const [first] = await store.insertMessages([message("first", "k-1")]);
    await store.insertMessages(Array.from({ length: 40 }, (_, i) => message(`filler ${i}`, `f-${i}`)));

    // 40 newer messages: inside a window of 50. Another author's same client_id is their own message.
    const [resent, others] = await store.insertMessages([
      message("first, again", "k-1"),
      message("bob's", "k-1", bob.id),
    ]);
    expect(resent).toEqual({ record: first!.record, duplicate: true });
    expect(others!.duplicate).toBe(false);

    // The window is rebuilt from the table when the store opens.
    await closeStore(store);
    store = openStore(path, { resendWindow: 50 });
    const [afterRestart] = await store.insertMessages([message("first, once more", "k-1")]);
    expect(afterRestart).toEqual({ record: first!.record, duplicate: true });

    // 60 newer messages: outside the window, the resend is stored as a new message (docs/api: the window).
    await store.insertMessages(Array.from({ length: 20 }, (_, i) => message(`more ${i}`, null)));
    const [late] = await store.insertMessages([message("first, too late", "k-1")]);
    expect(late!.duplicate).toBe(false);
    expect(late!.record.id).toBeGreaterThan(first!.record.id);
    expect(RESEND_WINDOW).toBe(500_000);
  });

  test("a resend of a deleted message, or of one whose batch was refused, is a new message", async () => {
    const store = openStore(scratchPath("window-deleted"));
    const { alice, room } = await seedPeople(store);
    const message = (content: string, clientId: string, roomId = room.id): NewMessage => ({
      roomId,
      userId: alice.id,
      content,
      clientId,
      createdAt: at(10),
    });
    const [gone] = await store.insertMessages([message("soon deleted", "d-1")]);
    expect(await store.deleteMessage(gone!.record.id)).toBe(true);
    const [again] = await store.insertMessages([message("sent again", "d-1")]);
    expect(again!.duplicate).toBe(false);
    expect(again!.record.id).not.toBe(gone!.record.id);
    // And that new message is the one a later resend finds.
    const [third] = await store.insertMessages([message("third time", "d-1")]);
    expect(third).toEqual({ record: again!.record, duplicate: true });

    // A batch refused as a whole (a room that does not exist) leaves no key behind.
    await expect(
      store.insertMessages([message("kept?", "r-1"), message("no room", "r-2", 999_999)]),
    ).rejects.toBeInstanceOf(MissingReferenceError);
    const [retried] = await store.insertMessages([message("kept", "r-1")]);
    expect(retried!.duplicate).toBe(false);
    expect(await store.findMessage(retried!.record.id)).toMatchObject({ content: "kept", clientId: "r-1" });
  });
});

test("keys whose hashes collide each find their own message, and only inside the window", () => {
  const db = new Database(":memory:");
  db.run(
    "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, room_id INTEGER, user_id INTEGER, client_id TEXT)",
  );
  db.run("CREATE TABLE rooms (id INTEGER PRIMARY KEY)");
  db.run("INSERT INTO rooms (id) VALUES (1), (2), (3), (9)");
  const window = createResendWindow(db, 5, () => 7);
  const insert = (roomId: number, userId: number, clientId: string | null) => {
    const { id } = db
      .query("INSERT INTO messages (room_id, user_id, client_id) VALUES (?, ?, ?) RETURNING id")
      .get(roomId, userId, clientId) as { id: number };
    window.stage(roomId, userId, clientId, id);
    return id;
  };
  const a = insert(1, 1, "a");
  const b = insert(1, 1, "b");
  window.commit();
  const c = insert(2, 1, "a");
  window.commit();
  expect([window.find(1, 1, "a"), window.find(1, 1, "b"), window.find(2, 1, "a"), window.find(1, 2, "a")]).toEqual([
    a,
    b,
    c,
    undefined,
  ]);
  // A rolled-back key is forgotten; five newer messages push the first two out.
  insert(3, 1, "gone");
  window.rollback();
  db.run("DELETE FROM messages WHERE client_id = 'gone'");
  expect(window.find(3, 1, "gone")).toBeUndefined();
  for (let i = 0; i < 3; i++) insert(9, 9, null);
  window.commit();
  expect([window.find(1, 1, "a"), window.find(1, 1, "b"), window.find(2, 1, "a")]).toEqual([undefined, undefined, c]);
});

describe("deleting a big room on SQLite", () => {
  const BIG = SLOW ? 900_000 : 100_000;

  /** `n` messages in `roomId`, 5,000 a batch, through the store (so the search indexer sees them too). */
  async function fill(store: Store, roomId: number, userId: number, n: number) {
    for (let done = 0; done < n; done += 5000) {
      const batch = Array.from(
        { length: Math.min(5000, n - done) },
        (_, i): NewMessage => ({
          roomId,
          userId,
          content: `big room message ${done + i} with some words`,
          clientId: null,
          createdAt: at(20),
        }),
      );
      await store.insertMessages(batch);
    }
  }

  test(`the room goes at once, its ${BIG.toLocaleString("en")} messages in chunks while a live room keeps its latency`, async () => {
    const path = scratchPath("purge");
    const store = openStore(path);
    const { alice, bob, room: live } = await seedPeople(store);
    const big = await store.createRoom({ name: "big", description: null, createdAt: at(0) });
    await fill(store, big.id, alice.id, BIG);
    // The search index has them all (the delete trigger removes their words with them).
    expect(
      (
        await store.searchMessages({
          terms: [{ words: ["big"], prefix: false }],
          readerId: alice.id,
          roomIds: null,
          authorIds: null,
          before: null,
          limit: 5,
        })
      ).length,
    ).toBe(5);

    // The event loop's longest pause, and a live room's writes, while the big room is deleted.
    let longestGapMs = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGapMs = Math.max(longestGapMs, now - last);
      last = now;
    }, 1);
    const started = performance.now();
    expect(await store.deleteRoom(big.id)).toBe(true);
    const deleteMs = performance.now() - started;
    // Gone for readers at once.
    expect(await store.findRoom(big.id)).toBeUndefined();
    expect(await store.listMessages(big.id, { limit: 10, skip: 0 })).toEqual([]);
    expect(await store.findMessage(1)).toBeUndefined();
    expect(
      await store.searchMessages({
        terms: [{ words: ["big"], prefix: false }],
        readerId: alice.id,
        roomIds: null,
        authorIds: null,
        before: null,
        limit: 5,
      }),
    ).toEqual([]);
    await expect(
      store.insertMessages([
        { roomId: big.id, userId: bob.id, content: "too late", clientId: null, createdAt: at(30) },
      ]),
    ).rejects.toBeInstanceOf(MissingReferenceError);

    const latencies: number[] = [];
    while (count(path, "SELECT count(*) AS n FROM room_purges") > 0) {
      const t = performance.now();
      await store.insertMessages([
        {
          roomId: live.id,
          userId: bob.id,
          content: `live ${latencies.length}`,
          clientId: `l-${latencies.length}`,
          createdAt: at(30),
        },
      ]);
      latencies.push(performance.now() - t);
      await Bun.sleep(2);
      expect(performance.now() - started).toBeLessThan(240_000);
    }
    clearInterval(ticker);
    const purgeMs = performance.now() - started;
    latencies.sort((a, b) => a - b);
    console.error(
      `deleting a room of ${BIG} messages: deleteRoom ${deleteMs.toFixed(1)} ms, purged in ${(purgeMs / 1000).toFixed(1)} s, ` +
        `longest event-loop pause ${longestGapMs.toFixed(1)} ms, ${latencies.length} live writes meanwhile, ` +
        `p99 ${latencies[Math.floor(latencies.length * 0.99)]!.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`,
    );
    expect(deleteMs).toBeLessThan(200);
    // A step takes a few milliseconds, and the purge waits for the indexer's checkpoints (room-purge.ts). Left: at
    // 900,000 two FTS5 tombstone rebuilds of 200-430 ms (quiet machine, docs/benchmarks.md); 100,000 stayed under
    // 50 ms. Before, checkpoints paused it up to 940 ms. One statement for the whole room held the thread 1.6 s
    // for 100,000 and 14.4 s for 900,000; the live room kept writing all along.
    expect(longestGapMs).toBeLessThan(SLOW ? 1000 : 300);
    // The purge does not outrun the checkpoints: the WAL grew to 150-260 MB without waiting for them, 15-55 MB with.
    expect(Bun.file(`${path}-wal`).size).toBeLessThan(128 * 2 ** 20);
    expect(latencies.length).toBeGreaterThan(purgeMs / 100);
    expect(count(path, "SELECT count(*) AS n FROM messages WHERE room_id = ?", big.id)).toBe(0);
    // Only the live room's words are left in the search index (a search first indexes every stored message).
    expect(
      await store.searchMessages({
        terms: [{ words: ["live"], prefix: false }],
        readerId: alice.id,
        roomIds: null,
        authorIds: null,
        before: null,
        limit: 5,
      }),
    ).toHaveLength(5);
    expect(count(path, "SELECT count(*) AS n FROM messages_search")).toBe(latencies.length);
    expect(count(path, "SELECT count(*) AS n FROM messages WHERE room_id = ?", live.id)).toBe(latencies.length);
    expect((await store.listMessages(live.id, { limit: 1, skip: 0 }))[0]!.content).toBe(`live ${latencies.length - 1}`);
  }, 400_000);

  test("a resend into a room being purged is refused; the last member leaving a private room purges it too", async () => {
    const path = scratchPath("purge-resend");
    const store = openStore(path);
    const { alice, bob } = await seedPeople(store);
    const big = await store.createRoom({ name: "big", description: null, createdAt: at(0) });
    await fill(store, big.id, alice.id, 20_000);
    const [sent] = await store.insertMessages([
      { roomId: big.id, userId: bob.id, content: "mine", clientId: "p-1", createdAt: at(40) },
    ]);
    expect(await store.deleteRoom(big.id)).toBe(true);
    // Its rows are still there (the purge has not reached them), but the room is gone: refused, as before.
    expect(count(path, "SELECT count(*) AS n FROM messages WHERE id = ?", sent!.record.id)).toBe(1);
    await expect(
      store.insertMessages([{ roomId: big.id, userId: bob.id, content: "mine", clientId: "p-1", createdAt: at(41) }]),
    ).rejects.toBeInstanceOf(MissingReferenceError);

    const secret = await store.createRoom({
      name: "secret",
      description: null,
      visibility: "private",
      ownerId: alice.id,
      createdAt: at(0),
    });
    await fill(store, secret.id, alice.id, 5000);
    expect(await store.removeMember(secret.id, alice.id)).toMatchObject({ removed: true, roomDeleted: true });
    expect(await store.findRoom(secret.id)).toBeUndefined();
    expect(await store.listMessages(secret.id, { limit: 10, skip: 0 })).toEqual([]);
    const deadline = Date.now() + 60_000;
    while (count(path, "SELECT count(*) AS n FROM room_purges") > 0 && Date.now() < deadline) await Bun.sleep(20);
    expect(count(path, "SELECT count(*) AS n FROM messages WHERE room_id IN (?, ?)", big.id, secret.id)).toBe(0);
  }, 120_000);

  test("a purge cut short by a stop goes on when the store opens again", async () => {
    const path = scratchPath("purge-resume");
    let store = openStore(path);
    const { alice } = await seedPeople(store);
    const big = await store.createRoom({ name: "big", description: null, createdAt: at(0) });
    await fill(store, big.id, alice.id, 20_000);
    expect(await store.deleteRoom(big.id)).toBe(true);
    await closeStore(store);
    expect(count(path, "SELECT count(*) AS n FROM messages WHERE room_id = ?", big.id)).toBeGreaterThan(0);
    expect(count(path, "SELECT count(*) AS n FROM room_purges")).toBe(1);

    store = openStore(path);
    expect(await store.findRoom(big.id)).toBeUndefined();
    const deadline = Date.now() + 60_000;
    while (count(path, "SELECT count(*) AS n FROM room_purges") > 0 && Date.now() < deadline) await Bun.sleep(20);
    expect(count(path, "SELECT count(*) AS n FROM messages WHERE room_id = ?", big.id)).toBe(0);
  }, 120_000);
});

/** The embedded migrations up to (not including) `tag`: a database as an older release left it. */
function migrationsBefore(embedded: EmbeddedMigrations, tag: string): EmbeddedMigrations {
  const end = embedded.journal.entries.findIndex((e) => e.tag === tag);
  expect(end).toBeGreaterThan(0);
  return { journal: { entries: embedded.journal.entries.slice(0, end) }, sql: embedded.sql };
}

/** Every message, in id order, hashed: equal hashes mean nothing lost, changed or reordered. */
function messagesDigest(path: string): { n: number; digest: string } {
  const db = new Database(path, { readonly: true });
  const hasher = new Bun.CryptoHasher("sha256");
  let n = 0;
  for (const row of db
    .query("SELECT id, room_id, user_id, content, client_id, created_at, edited_at FROM messages ORDER BY id")
    .values()) {
    hasher.update(JSON.stringify(row));
    n++;
  }
  db.close();
  return { n, digest: hasher.digest("hex") };
}

const MIGRATED = SLOW ? 1_000_000 : 100_000;

describe(`migrating a SQLite database of ${MIGRATED.toLocaleString("en")} messages to the resend window`, () => {
  test("nothing is lost or reordered; history, resends and deletes work on the migrated data", async () => {
    const path = scratchPath("migrate");
    const old = new Database(path, { create: true });
    old.run("PRAGMA journal_mode = WAL");
    applyMigrations(drizzle(old), migrationsBefore(migrations, "0010_resend_window_room_purges"));
    old.run(
      "INSERT INTO users (username, email, hashed_password, role, created_at) VALUES ('alice', 'a@example.com', 'h', 'user', 0), ('bob', 'b@example.com', 'h', 'user', 0)",
    );
    old.run(
      `INSERT INTO rooms (name, created_at) SELECT 'room ' || value, 0 FROM json_each('[${Array.from({ length: 200 }, (_, i) => i).join(",")}]')`,
    );
    // MIGRATED messages over 200 rooms and both authors, each with a client_id, one in 1,000 deleted (ids not dense).
    old.run(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${MIGRATED})
       INSERT INTO messages (room_id, user_id, content, client_id, created_at)
       SELECT 1 + (i * 7919) % 200, 1 + i % 2, 'message ' || i, 'c-' || i, i FROM n`,
    );
    old.run("DELETE FROM messages WHERE id % 1000 = 0");
    // The search index is not this test's subject: mark it caught up, or opening would index a million messages.
    old.run("UPDATE search_indexed SET through_id = (SELECT max(id) FROM messages)");
    old.close();
    const before = messagesDigest(path);
    expect(before.n).toBe(MIGRATED - MIGRATED / 1000);

    // The migration as the store applies it at start, timed apart from the store's own start (the resend window).
    const migrating = new Database(path);
    const started = performance.now();
    applyMigrations(drizzle(migrating), migrations);
    const migrateMs = performance.now() - started;
    migrating.close();
    const opening = performance.now();
    const store = openStore(path);
    const openMs = performance.now() - opening;
    console.error(
      `migrating ${MIGRATED} messages (SQLite): the migration took ${migrateMs.toFixed(0)} ms, the store then opened in ${openMs.toFixed(0)} ms`,
    );
    const after = messagesDigest(path);
    expect(after).toEqual(before);

    // History is a range read of the same messages, newest first.
    const page = await store.listMessages(1, { limit: 50, before: MIGRATED * 0.9 });
    expect(page.map((m) => m.id)).toEqual(
      (
        new Database(path, { readonly: true })
          .query("SELECT id FROM messages WHERE room_id = 1 AND id < ? ORDER BY id DESC LIMIT 50")
          .values(MIGRATED * 0.9) as number[][]
      ).map((row) => row[0]!),
    );
    // A resend of a message stored before the migration, inside the window, gets the original.
    const newest = page[0]!;
    const [resent] = await store.insertMessages([
      { roomId: 1, userId: newest.userId, content: "again", clientId: newest.clientId, createdAt: at(1) },
    ]);
    expect(resent).toMatchObject({ duplicate: true, record: { id: newest.id, content: newest.content } });
    const [fresh] = await store.insertMessages([
      { roomId: 1, userId: 1, content: "new", clientId: "c-new", createdAt: at(1) },
    ]);
    expect(fresh!.record.id).toBeGreaterThan(MIGRATED);
    expect(await store.deleteMessage(newest.id)).toBe(true);
    expect(
      count(path, "SELECT count(*) AS n FROM sqlite_master WHERE name = 'messages_room_id_user_id_client_id_key'"),
    ).toBe(0);
    expect(migrateMs + openMs).toBeLessThan(30_000);
  }, 180_000);
});
