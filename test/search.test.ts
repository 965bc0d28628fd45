// Full-text search (issue 19): the query language (words, phrases, prefixes, accents, from:/in:, CJK), hostile
// queries that must never be a 500, an index that follows edits and deletes, results only from readable rooms,
// and messages stored before the search migration found after it.
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import postgres from "postgres";
import { openPostgresStore } from "../src/store/postgres/store.ts";
import { openSqliteStore } from "../src/store/sqlite/store.ts";
import type { Store } from "../src/store/store.ts";
import { createTestApp, dialect, scratchDatabase, type TestApp } from "./support.ts";

type Account = Awaited<ReturnType<TestApp["user"]>>;

let t: TestApp;
let admin: Account, alice: Account, bob: Account, carol: Account;
let general: number, random: number, secret: number, direct: number;

beforeAll(async () => {
  t = await createTestApp();
  admin = await t.user("admin", { role: "admin" });
  alice = await t.user("alice");
  bob = await t.user("bob");
  carol = await t.user("carol");
  general = (await t.request("POST", "/rooms/", { token: admin.token, body: { name: "General" } })).json.id;
  random = (await t.request("POST", "/rooms/", { token: admin.token, body: { name: "Random" } })).json.id;
  secret = (
    await t.request("POST", "/rooms/", { token: alice.token, body: { name: "Secret plans", visibility: "private" } })
  ).json.id;
  direct = (await t.request("POST", "/dms", { token: alice.token, body: { username: "carol" } })).json.id;
});
afterAll(async () => {
  await t.dispose();
});

async function post(who: Account, room: number, content: string): Promise<number> {
  const made = await t.request("POST", `/rooms/${room}/messages`, { token: who.token, body: { content } });
  expect(made.status).toBe(201);
  return made.json.id;
}

async function search(who: Account, params: Record<string, string | number>) {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  return t.request("GET", `/search?${query}`, { token: who.token });
}

/** The ids found, newest first (the call must succeed). */
async function found(who: Account, q: string, extra: Record<string, string | number> = {}): Promise<number[]> {
  const answer = await search(who, { q, ...extra });
  expect(answer.status).toBe(200);
  return answer.json.results.map((r: { id: number }) => r.id);
}

describe(`search: the query language (${dialect})`, () => {
  test("every word must match; results are history items with room_name and a marked, escaped snippet; newest first", async () => {
    const older = await post(alice, general, "The <b>deploy</b> of zebrafish & friends went fine");
    const newer = await post(bob, random, "zebrafish deploy again");
    await post(bob, random, "zebrafish only");
    expect(await found(alice, "zebrafish deploy")).toEqual([newer, older]);
    const [item] = (await search(alice, { q: "zebrafish deploy", limit: 1 })).json.results;
    const history = (await t.request("GET", `/rooms/${random}/messages`, { token: alice.token })).json.find(
      (m: { id: number }) => m.id === newer,
    );
    expect(item).toEqual({ ...history, room_name: "Random", snippet: expect.any(String) });
    const first = (await search(alice, { q: "ZEBRAFISH deploy", before: newer })).json.results[0];
    expect(first.room_name).toBe("General");
    expect(first.snippet).toBe(
      "The &lt;b&gt;<mark>deploy</mark>&lt;/b&gt; of <mark>zebrafish</mark> &amp; friends went fine",
    );
  });

  test("limit and before page back through every match once; next_before is null on the last page", async () => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await post(alice, general, `pagination marmalade ${i}`));
    const first = (await search(alice, { q: "marmalade", limit: 2 })).json;
    expect(first.results.map((r: { id: number }) => r.id)).toEqual([ids[4], ids[3]]);
    expect(first.next_before).toBe(ids[3]);
    const second = (await search(alice, { q: "marmalade", limit: 2, before: first.next_before })).json;
    expect(second.results.map((r: { id: number }) => r.id)).toEqual([ids[2], ids[1]]);
    const last = (await search(alice, { q: "marmalade", limit: 2, before: second.next_before })).json;
    expect(last.results.map((r: { id: number }) => r.id)).toEqual([ids[0]]);
    expect(last.next_before).toBeNull();
    expect((await search(alice, { q: "marmalade", limit: 51 })).status).toBe(422);
    expect((await search(alice, { q: "marmalade", limit: 0 })).status).toBe(422);
    expect((await search(alice, { q: "marmalade", before: "01" })).status).toBe(422);
  });

  test("a quoted phrase matches its words adjacent and in order", async () => {
    const hit = await post(alice, general, "the quick brown fox jumps");
    await post(alice, general, "brown, then quick, fox");
    expect(await found(alice, '"quick brown fox"')).toEqual([hit]);
    expect(await found(alice, '"brown quick"')).toEqual([]);
    // Punctuation inside a word makes a phrase of its parts, as it does in the text.
    const dashed = await post(alice, general, "see the e-mail address bob.smith@example.org");
    expect(await found(alice, "bob.smith@example.org")).toEqual([dashed]);
    expect(await found(alice, "e-mail")).toEqual([dashed]);
  });

  test("a trailing * is a prefix (of at least 2 characters), also after a phrase", async () => {
    const a = await post(alice, general, "frobnication scheduled");
    const b = await post(alice, general, "refrobnicate then frobnicates");
    expect(await found(alice, "frobnic*")).toEqual([b, a]);
    expect(await found(alice, "frobnic")).toEqual([]);
    expect(await found(alice, '"frobnication sched"*')).toEqual([a]);
    const snip = (await search(alice, { q: "frobnic*" })).json.results[0].snippet;
    expect(snip).toBe("refrobnicate then <mark>frobnicates</mark>");
    // A one-letter prefix is the word itself.
    const x = await post(alice, general, "plan x is ready");
    expect(await found(alice, "x* ready")).toEqual([x]);
  });

  test("case and accents are ignored both ways", async () => {
    const cafe = await post(alice, general, "Rendez-vous au CAFÉ, naïve Über-idée");
    const plain = await post(alice, general, "the cafe is naive");
    expect(await found(alice, "café")).toEqual([plain, cafe]);
    expect(await found(alice, "Cafe")).toEqual([plain, cafe]);
    expect(await found(alice, "NAÏVE")).toEqual([plain, cafe]);
    expect(await found(alice, "uber idee")).toEqual([cafe]);
    expect((await search(alice, { q: "ueber-IDÉE" })).json.results).toEqual([]);
    const [hit] = (await search(alice, { q: "cafe", before: plain })).json.results;
    expect(hit.snippet).toBe("Rendez-vous au <mark>CAFÉ</mark>, naïve Über-idée");
    // Decomposed input (e + combining acute) is the same text.
    expect(await found(alice, "cafe\u0301")).toEqual([plain, cafe]);
  });

  test("Chinese and Japanese: each character is a word, a run is a phrase (any text containing it)", async () => {
    const ja = await post(alice, general, "私は東京に住んでいます");
    const zh = await post(alice, general, "我们明天在北京见面");
    expect(await found(alice, "東京")).toEqual([ja]);
    expect(await found(alice, "東京に住")).toEqual([ja]);
    expect(await found(alice, "京東")).toEqual([]);
    expect(await found(alice, "北京 见面")).toEqual([zh]);
    expect((await search(alice, { q: "北京" })).json.results[0].snippet).toBe(
      "我们明天在<mark>北</mark><mark>京</mark>见面",
    );
    // Other scripts separated by spaces are words as usual.
    const ru = await post(alice, general, "Привет, МИР");
    expect(await found(alice, "мир")).toEqual([ru]);
    const hi = await post(alice, general, "नमस्ते दुनिया");
    expect(await found(alice, "नमस्ते")).toEqual([hi]);
    expect(await found(alice, "नमस*")).toEqual([hi]);
    expect(await found(alice, "नमसत")).toEqual([]);
  });

  test("from: and in: filter by author and room, names whole and ignoring case", async () => {
    const a = await post(alice, general, "quarterly numbers from alice");
    const b = await post(bob, general, "quarterly numbers from bob");
    const c = await post(bob, random, "quarterly numbers in random");
    const s = await post(alice, secret, "quarterly numbers in secret");
    const d = await post(carol, direct, "quarterly numbers in the dm");
    expect(await found(alice, "quarterly from:ALICE")).toEqual([s, a]);
    expect(await found(alice, "quarterly from:bob in:general")).toEqual([b]);
    expect(await found(alice, 'quarterly in:"secret PLANS"')).toEqual([s]);
    expect(await found(alice, "quarterly in:secret")).toEqual([]);
    expect(await found(alice, "quarterly in:random in:general from:bob")).toEqual([c, b]);
    // A direct room's name is the other person's username.
    expect(await found(alice, "quarterly in:carol")).toEqual([d]);
    expect((await search(alice, { q: "quarterly in:carol" })).json.results[0].room_name).toBe("carol");
    expect((await search(carol, { q: "quarterly in:alice" })).json.results[0].room_name).toBe("alice");
    expect(await found(alice, "quarterly from:nobody")).toEqual([]);
    expect(await found(alice, "quarterly", { room_id: random })).toEqual([c]);
    expect(await found(alice, "quarterly in:general", { room_id: random })).toEqual([]);
  });

  test("fewer than 2 letters or digits to look for is 422; so is an overlong query", async () => {
    for (const q of ["", " ", "a", "*", "!!", '""', "from:alice", "in:general a", "é"]) {
      const answer = await search(alice, { q });
      expect([q, answer.status, answer.json.code]).toEqual([q, 422, "QUERY_TOO_SHORT"]);
    }
    expect((await t.request("GET", "/search", { token: alice.token })).status).toBe(422);
    expect((await search(alice, { q: "ab" })).status).toBe(200);
    expect((await search(alice, { q: "x".repeat(201) })).json.code).toBe("QUERY_TOO_LONG");
    expect((await search(alice, { q: "ab from:a from:b from:c from:d from:e from:f" })).json.code).toBe(
      "QUERY_TOO_LONG",
    );
    expect((await t.request("GET", "/search?q=ab")).status).toBe(401);
  });
});

describe(`search: hostile queries are literal text, never a 500 (${dialect})`, () => {
  test("operator words are words, syntax characters only separate words", async () => {
    const not = await post(alice, random, "cats NOT dogs");
    const plain = await post(alice, random, "cats dogs");
    expect(await found(alice, "cats NOT dogs")).toEqual([not]);
    expect(await found(alice, "NOT dogs")).toEqual([not]);
    expect(await found(alice, "cats OR dogs")).toEqual([]);
    expect(await found(alice, "(cats) -dogs")).toEqual([plain, not]);
    expect(await found(alice, "NEAR(cats dogs)")).toEqual([]);
    expect(await found(alice, "words:cats dogs:")).toEqual([]);
    expect(await found(alice, "'cats':* & !dogs")).toEqual([plain, not]);
  });

  const HOSTILE = [
    '"',
    '""',
    '"""',
    "*",
    "**",
    "***",
    "(",
    ")",
    "()",
    ":",
    "::",
    "a:b",
    "NEAR(a b, 2)",
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "a AND",
    "OR b",
    "NOT NOT",
    "ab OR",
    '"unterminated phrase',
    'ab"cd"ef',
    "*ab",
    "a*b",
    "ab**",
    "ab* *",
    "^ab",
    "+ab",
    "-ab",
    "{ab cd}",
    "ab:cd:ef",
    "col:ab",
    "messages_search:ab",
    "rowid:1",
    "'ab'",
    "''",
    "'ab':*",
    "ab & cd | !ef",
    "ab <-> cd",
    "ab <2> cd",
    "\\ab",
    "ab\\",
    "%ab%",
    "ab_",
    "ab; DROP TABLE messages; --",
    "ab' OR '1'='1",
    "from:",
    "in:",
    'from:"',
    'in:"unterminated',
    'from:ab"cd',
    "in:(ab)",
    "from:' OR 1=1 --",
    "in:*",
    "ab\u200bcd",
    "ab\u0000",
    "ab\ud800",
    "🎉🎉",
    "ab🎉cd",
    "\u0301\u0301ab",
    "ıİ",
    "ß",
    "ﬁne",
    "x".repeat(200),
    "ab ".repeat(66),
    "ab* ".repeat(50),
    '"ab '.repeat(50),
    `${"a".repeat(70)}*`,
  ];

  test("a list of hostile queries: 200 or a 422 with a code", async () => {
    for (const q of HOSTILE) {
      const answer = await search(alice, { q });
      expect([q, answer.status === 200 || (answer.status === 422 && answer.json !== undefined)]).toEqual([q, true]);
    }
  });

  test("random queries from syntax characters, operator words and words in the index: never a 500", async () => {
    const pieces = fc.constantFrom(
      '"',
      "*",
      "(",
      ")",
      ":",
      "'",
      "^",
      "-",
      "+",
      "&",
      "|",
      "!",
      "<->",
      "\\",
      " ",
      "AND",
      "OR",
      "NOT",
      "NEAR",
      "from:",
      "in:",
      "cats",
      "dogs",
      "é",
      "東京",
      "ab",
    );
    await fc.assert(
      fc.asyncProperty(fc.array(pieces, { minLength: 1, maxLength: 12 }), async (parts) => {
        const answer = await search(alice, { q: parts.join("") });
        expect(answer.status === 200 || answer.status === 422).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});

describe(`search: always current (${dialect})`, () => {
  test("a message is found as soon as it is stored", async () => {
    const id = await post(bob, general, "immediately findable kumquat");
    expect(await found(alice, "kumquat")).toEqual([id]);
  });

  test("an edited message is found by its new words, not its old ones", async () => {
    const id = await post(bob, general, "original wording persimmon");
    const edited = await t.request("PATCH", `/messages/${id}`, {
      token: bob.token,
      body: { content: "revised text lychee" },
    });
    expect(edited.status).toBe(200);
    expect(await found(alice, "persimmon")).toEqual([]);
    expect(await found(alice, "lychee")).toEqual([id]);
    expect((await search(alice, { q: "lychee" })).json.results[0].edited_at).not.toBeNull();
  });

  test("deleted messages, rooms and users are gone from results", async () => {
    const message = await post(bob, general, "doomed rambutan");
    expect((await t.request("DELETE", `/messages/${message}`, { token: bob.token })).status).toBe(204);
    expect(await found(alice, "rambutan")).toEqual([]);

    const room = (await t.request("POST", "/rooms/", { token: admin.token, body: { name: "Doomed" } })).json.id;
    await post(bob, room, "doomed durian");
    expect(await found(alice, "durian")).toHaveLength(1);
    expect((await t.request("DELETE", `/rooms/${room}`, { token: admin.token })).status).toBe(204);
    expect(await found(alice, "durian")).toEqual([]);

    const dave = await t.user("dave");
    await post(dave, general, "doomed jackfruit");
    expect(await found(alice, "jackfruit")).toHaveLength(1);
    expect(await t.store.deleteUser(dave.id)).toBe(true);
    expect(await found(alice, "jackfruit")).toEqual([]);
  });
});

describe(`search: only rooms you can read (${dialect})`, () => {
  test("private and direct rooms are searched by their members only; room_id of one you cannot read is 404", async () => {
    const room = (
      await t.request("POST", "/rooms/", { token: alice.token, body: { name: "Vault", visibility: "private" } })
    ).json.id;
    const early = await post(alice, room, "vault combination tangerine");
    const dm = await post(carol, direct, "dm tangerine");
    const pub = await post(bob, general, "public tangerine");
    expect(await found(alice, "tangerine")).toEqual([pub, dm, early]);
    expect(await found(bob, "tangerine")).toEqual([pub]);
    expect(await found(admin, "tangerine")).toEqual([pub]);
    expect(await found(carol, "tangerine")).toEqual([pub, dm]);
    for (const [who, id] of [
      [bob, room],
      [admin, room],
      [bob, direct],
      [bob, 999_999],
    ] as const) {
      const answer = await search(who, { q: "tangerine", room_id: id });
      expect([answer.status, answer.json.code]).toEqual([404, "ROOM_NOT_FOUND"]);
    }
    expect(await found(bob, "tangerine in:vault")).toEqual([]);

    // A new member finds the whole history; a removed one nothing again.
    expect(
      (await t.request("POST", `/rooms/${room}/members`, { token: alice.token, body: { username: "bob" } })).status,
    ).toBe(201);
    expect(await found(bob, "tangerine")).toEqual([pub, early]);
    expect(await found(bob, "tangerine", { room_id: room })).toEqual([early]);
    expect(await found(bob, "tangerine in:vault")).toEqual([early]);
    expect((await t.request("DELETE", `/rooms/${room}/members/${bob.id}`, { token: alice.token })).status).toBe(204);
    expect(await found(bob, "tangerine")).toEqual([pub]);
    expect((await search(bob, { q: "tangerine", room_id: room })).status).toBe(404);
  });
});

describe(`search: messages stored before the search migration (${dialect})`, () => {
  /** Opens the store on a database of its own, `reset` un-indexes it as it was before migration search_index. */
  async function scratchStore(): Promise<{ open(): Promise<Store>; unindex(): Promise<void>; drop(): Promise<void> }> {
    if (dialect === "sqlite") {
      const dir = mkdtempSync(join(tmpdir(), "search-"));
      const path = join(dir, "chat.db");
      return {
        open: async () => openSqliteStore(path),
        async unindex() {
          const db = new Database(path);
          db.run("DELETE FROM messages_search");
          db.run("UPDATE search_indexed SET through_id = 0");
          db.close();
        },
        drop: async () => rmSync(dir, { recursive: true, force: true }),
      };
    }
    const scratch = await scratchDatabase("chat_search");
    return {
      open: () => openPostgresStore(scratch.url, { poolSize: 2 }),
      async unindex() {
        const sql = postgres(scratch.url, { max: 1, onnotice: () => {} });
        await sql`DELETE FROM message_words`;
        await sql`INSERT INTO search_backfill SELECT max(id) + 1 FROM messages`;
        await sql.end();
      },
      drop: () => scratch.drop(),
    };
  }

  test("imported messages are found, and the backfill after the migration indexes every earlier message", async () => {
    const scratch = await scratchStore();
    try {
      let store = await scratch.open();
      const at = new Date(Date.UTC(2025, 0, 1));
      const total = 5003; // more than one backfill chunk
      const imported = await store.importRecords({
        users: [{ username: "olduser", email: "old@example.com", passwordHash: "x", role: "user", createdAt: at }],
        rooms: [{ name: "archive", description: null, createdAt: at }],
        messages: Array.from({ length: total }, (_, i) => ({
          room: { index: 0 },
          user: { index: 0 },
          content: i % 1000 === 0 ? `Ancient Café ${i}` : `filler ${i}`,
          clientId: `seed:${i}`,
          createdAt: at,
        })),
      });
      const readerId = imported.userIds[0]!;
      const query = (words: string[]) => ({
        readerId,
        terms: [{ words, prefix: false }],
        roomIds: null,
        authorIds: null,
        before: null,
        limit: 50,
      });
      expect((await store.searchMessages(query(["ancient", "cafe"]))).map((h) => h.message.content)).toEqual(
        [5000, 4000, 3000, 2000, 1000, 0].map((i) => `Ancient Café ${i}`),
      );
      await store.close();
      await scratch.unindex();
      store = await scratch.open();
      expect(await store.searchMessages(query(["ancient"]))).toHaveLength(6);
      expect(await store.searchMessages(query(["filler"]))).toHaveLength(50);
      expect(await store.searchMessages(query(["5002"]))).toHaveLength(1);
      expect(await store.searchMessages(query(["1"]))).toHaveLength(1);
      await store.close();
    } finally {
      await scratch.drop();
    }
  });
});

describe(`search: a database file, indexed on the indexer's own thread (${dialect})`, () => {
  // The other tests run on an in-memory SQLite database, which the store indexes on its own connection.
  async function fileStore(): Promise<{ open(): Promise<Store>; drop(): Promise<void> }> {
    if (dialect === "sqlite") {
      const dir = mkdtempSync(join(tmpdir(), "search-file-"));
      return {
        open: async () => openSqliteStore(join(dir, "chat.db")),
        drop: async () => rmSync(dir, { recursive: true, force: true }),
      };
    }
    const scratch = await scratchDatabase("chat_search_file");
    return { open: () => openPostgresStore(scratch.url, { poolSize: 2 }), drop: () => scratch.drop() };
  }

  test("stored messages are found at once, edits and deletes followed, and all of it after a restart", async () => {
    const file = await fileStore();
    try {
      let store = await file.open();
      const at = new Date(Date.UTC(2026, 0, 1));
      const user = await store.createUser({
        username: "writer",
        email: "writer@example.com",
        passwordHash: "x",
        role: "user",
        createdAt: at,
      });
      const room = await store.createRoom({ name: "notes", description: null, createdAt: at });
      const found = async (...words: string[]) =>
        (
          await store.searchMessages({
            readerId: user.id,
            terms: words.map((w) => ({ words: [w], prefix: false })),
            roomIds: null,
            authorIds: null,
            before: null,
            limit: 50,
          })
        ).map((h) => h.message.content);
      const storeAll = (contents: string[], from = 0) =>
        store.insertMessages(
          contents.map((content, i) => ({
            roomId: room.id,
            userId: user.id,
            content,
            clientId: `c${from + i}`,
            createdAt: at,
          })),
        );

      const [kept, edited, deleted] = (await storeAll(["plum kept", "plum edited", "plum deleted"])).map(
        (s) => s.record.id,
      );
      expect(await found("plum")).toEqual(["plum deleted", "plum edited", "plum kept"]);
      await store.updateMessage(edited!, "damson now", at);
      expect(await store.deleteMessage(deleted!)).toBe(true);
      expect(await found("plum")).toEqual(["plum kept"]);
      expect(await found("damson")).toEqual(["damson now"]);

      // Edited before the indexer reached it: found by its new words only.
      const [early] = (await storeAll(["quince early"], 10)).map((s) => s.record.id);
      await store.updateMessage(early!, "medlar late", at);
      // More than one indexing chunk, in batches the size of a busy server's.
      for (let from = 0; from < 5200; from += 200)
        await storeAll(
          Array.from({ length: 200 }, (_, i) => `bulk ${from + i}`),
          100 + from,
        );
      expect(await found("quince")).toEqual([]);
      expect(await found("medlar")).toEqual(["medlar late"]);
      expect(await found("bulk", "0")).toEqual(["bulk 0"]);
      expect(await found("bulk", "5199")).toEqual(["bulk 5199"]);
      await store.close();

      store = await file.open();
      expect(await found("plum")).toEqual(["plum kept"]);
      expect(await found("medlar")).toEqual(["medlar late"]);
      expect(await found("bulk", "2600")).toEqual(["bulk 2600"]);
      expect(kept).toBeGreaterThan(0);
      await store.deleteRoom(room.id);
      expect(await found("plum")).toEqual([]);
      await store.close();
    } finally {
      await file.drop();
    }
  });
});
