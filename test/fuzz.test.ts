// Input fuzzing against a listening server: random and mutated bodies, queries, path ids and socket frames.
// Nothing may answer 500 or crash the server; refusals are clear; awkward text is stored exactly or refused.
// Runs are bounded and seeded: a failure prints the seed and the shrunk input (FUZZ_SEED=... to replay).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createTestApp, dialect, jsonOrUndefined, testClock, type TestApp } from "./support.ts";
import { TestSocket, type Frame } from "./ws-client.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_107);
const RUNS = 250;
const check = <T>(property: fc.IAsyncPropertyWithHooks<T>, numRuns = RUNS) =>
  fc.assert(property, { seed: SEED, numRuns });

// The login throttle would hide what a login does with hostile input after 30 tries: time moves 5 minutes
// after each one instead, so tokens live a week.
const clock = testClock(Date.now());
let t: TestApp;
let http: string;
let ws: string;
let admin: { id: number; token: string };
let fuzzer: { id: number; token: string };
let roomId: number;
let ownMessageId: number;
const statuses = new Map<number, number>();

beforeAll(async () => {
  // The clock stands still, so a message budget would never refill: the fuzzer's hundreds of posts are not a person's.
  t = await createTestApp({
    clock,
    accessTokenTtlSeconds: 7 * 24 * 3600,
    limits: { messagesPerSecond: 1_000_000, messageBurst: 1_000_000 },
  });
  t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
  http = `http://127.0.0.1:${t.app.server!.port}`;
  ws = `ws://127.0.0.1:${t.app.server!.port}`;
  admin = await t.user("admin", { role: "admin" });
  fuzzer = await t.user("fuzzer");
  roomId = (await t.request("POST", "/rooms/", { token: admin.token, body: { name: "fuzz" } })).json.id;
  ownMessageId = (
    await t.request("POST", `/rooms/${roomId}/messages`, { token: fuzzer.token, body: { content: "edit me" } })
  ).json.id;
});
afterAll(async () => {
  console.log(
    JSON.stringify({ test: "fuzz", dialect, seed: SEED, statuses: Object.fromEntries([...statuses].sort()) }),
  );
  await t.app.stop(true);
  await t.dispose();
});

interface Answer {
  status: number;
  json: any;
  text: string;
}

/** One request over TCP; asserts the server's promise: below 500, and a refusal says why in `detail`. */
async function send(
  method: string,
  path: string,
  init: { body?: string; contentType?: string; token?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.contentType) headers["content-type"] = init.contentType;
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const response = await fetch(`${http}${path}`, { method, headers, body: init.body });
  const text = await response.text();
  const json = jsonOrUndefined(text);
  statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
  if (response.status >= 500 || (response.status >= 400 && json?.detail === undefined)) {
    throw new Error(`${method} ${path} -> ${response.status} ${text.slice(0, 300)}`);
  }
  return { status: response.status, json, text };
}

// ---- arbitraries

/** Any UTF-16 code unit, lone surrogates and NUL included. */
const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const nastyPiece = fc.constantFrom(
  "'",
  '"',
  ";",
  "--",
  "/*",
  "*/",
  "\\",
  "%",
  "_",
  "\u0000",
  "\ud800",
  "\udfff",
  "\u202e",
  "\u200f",
  "\u2066",
  "'; DROP TABLE users; --",
  "' OR '1'='1",
  '") OR 1=1 --',
  "😀",
  "e\u0301",
  " ",
  "\t",
  "\n",
  "\r\n",
  "\ufeff",
  "\u0085",
  "\u00a0",
  "\u2028",
  "<script>",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template placeholder, sent as text on purpose
  "${x}",
  "{{x}}",
  "NULL",
  "%00",
  "\\x00",
  "ℌ",
  "ﷺ",
  "ά",
  "a",
);
const nastyText = fc.oneof(
  fc.string(),
  fc.string({ unit: anyUnit }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.array(nastyPiece, { minLength: 1, maxLength: 8 }).map((pieces) => pieces.join("")),
);
const hugeNumber = fc.constantFrom(
  "1e400",
  "-1e400",
  "123456789012345678901234567890",
  "9007199254740993",
  "-0",
  "1e-400",
  "2147483648",
  "-2147483649",
  "NaN",
  "Infinity",
  "0x10",
  "1.5",
  "00",
  "1_000",
);
const fieldValue = fc.oneof(
  nastyText,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.object({ maxDepth: 2 }),
);
const fields = ["username", "email", "password", "role", "name", "description", "content", "client_id"] as const;
const mutatedBody = fc
  .record(Object.fromEntries(fields.map((f) => [f, fieldValue])), { requiredKeys: [] })
  .map((o) => JSON.stringify(o));
const jsonish = fc.oneof(
  fc.json(),
  fc.string({ unit: anyUnit }),
  mutatedBody,
  fc.tuple(fc.constantFrom(...fields), hugeNumber).map(([k, n]) => `{"${k}":${n}}`),
  fc.integer({ min: 1, max: 30_000 }).map((n) => "[".repeat(n) + "]".repeat(n)),
  fc.integer({ min: 1, max: 10_000 }).map((n) => `${'{"content":'.repeat(n)}"x"${"}".repeat(n)}`),
  fc.string({ unit: "binary-ascii" }).map((s) => `{"content": "${s}`), // cut short
);
const contentType = fc.constantFrom(
  "application/json",
  "application/json",
  "application/json",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "multipart/form-data",
  "application/octet-stream",
  undefined,
  "application/json; charset=utf-16",
  "garbage/ü",
);

/** Percent-encodes a string's UTF-8 bytes (encodeURIComponent throws on lone surrogates). */
const encodeBytes = (s: string) =>
  [...new TextEncoder().encode(s)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
const queryValue = fc.oneof(
  fc.string({ unit: anyUnit, maxLength: 12 }),
  fc.integer().map(String),
  hugeNumber,
  fc.constantFrom("", "1", "100", "101", "0", "-1", " 1", "1 ", "+1", "١", "true", "[]", "{}"),
);
const rawQuery = fc
  .array(
    fc.oneof(
      queryValue.map(encodeBytes),
      fc.constantFrom(
        "%",
        "%zz",
        "%00",
        "%ff",
        "%c0%af",
        "&",
        "=",
        "limit",
        "before",
        "after",
        "skip",
        "[]",
        "[a]",
        "+",
        ";",
        "#",
      ),
    ),
    { maxLength: 10 },
  )
  .map((parts) => parts.join(""));
const pathSegment = fc.oneof(
  fc.string({ unit: anyUnit, minLength: 1, maxLength: 12 }).map(encodeBytes),
  fc.integer().map(String),
  hugeNumber,
  fc.constantFrom(
    "%",
    "%zz",
    "..",
    "%2e%2e",
    "1e3",
    "-1",
    "0",
    "1.0",
    "%201",
    "%00",
    "1;2",
    "%2F",
    "1%2F2",
    "%ef%bf%bf",
  ),
);

// ---- properties

describe(`HTTP fuzzing (${dialect})`, () => {
  test("random and mutated bodies on every write route: never 500, refusals have a detail", async () => {
    const routes = [
      ["POST", "/auth/signup", undefined],
      ["POST", "/auth/login", undefined],
      ["POST", "/rooms/", "admin"],
      ["POST", () => `/rooms/${roomId}/messages`, "fuzzer"],
      ["PATCH", () => `/messages/${ownMessageId}`, "fuzzer"],
      ["PATCH", () => `/users/${admin.id}`, "fuzzer"],
    ] as const;
    await check(
      fc.asyncProperty(fc.constantFrom(...routes), jsonish, contentType, async ([method, path, who], body, type) => {
        const token = who === "admin" ? admin.token : who === "fuzzer" ? fuzzer.token : undefined;
        await send(method, typeof path === "function" ? path() : path, { body, contentType: type, token });
        clock.advance(5 * 60_000);
      }),
      400,
    );
  });

  test("history queries with random limit/before/after/skip: a page or a clear 422", async () => {
    const structured = fc
      .record({ limit: queryValue, before: queryValue, after: queryValue, skip: queryValue }, { requiredKeys: [] })
      .map((q) => new URLSearchParams(q as Record<string, string>).toString().replaceAll("%EF%BF%BD", "%ed%a0%80"));
    await check(
      fc.asyncProperty(fc.oneof(structured, rawQuery), async (query) => {
        const answer = await send("GET", `/rooms/${roomId}/messages?${query}`, { token: fuzzer.token });
        if (answer.status === 200) expect(Array.isArray(answer.json)).toBe(true);
        else expect([400, 404, 422]).toContain(answer.status);
      }),
    );
  });

  test("random path ids: 404 or 422 (or the real thing), never 500", async () => {
    const routes = [
      ["GET", (id: string) => `/rooms/${id}`],
      ["GET", (id: string) => `/rooms/${id}/messages`],
      ["PATCH", (id: string) => `/messages/${id}`],
      ["DELETE", (id: string) => `/messages/${id}`],
      ["PATCH", (id: string) => `/users/${id}`],
      ["GET", (id: string) => `/ws/${id}`], // no token and no upgrade header: never upgrades
    ] as const;
    await check(
      fc.asyncProperty(fc.constantFrom(...routes), pathSegment, async ([method, path], id) => {
        const body = method === "PATCH" ? JSON.stringify({ content: "edited by the fuzzer" }) : undefined;
        await send(method, path(id), { body, contentType: body ? "application/json" : undefined, token: fuzzer.token });
      }),
    );
  });

  test("SQL metacharacters, NUL, lone surrogates and RTL marks: usernames refused by pattern, logins refused cleanly", async () => {
    await check(
      fc.asyncProperty(nastyText, async (name) => {
        const signup = await send("POST", "/auth/signup", {
          body: JSON.stringify({ username: name, email: "nasty@example.com", password: "password123" }),
          contentType: "application/json",
        });
        if (!/^[A-Za-z0-9_.-]{3,32}$/.test(name))
          expect([signup.status, signup.json.code]).toEqual([422, "VALIDATION_FAILED"]);
        const login = await send("POST", "/auth/login", {
          body: JSON.stringify({ username: name, password: "password123" }),
          contentType: "application/json",
        });
        expect([200, 401, 422]).toContain(login.status);
        clock.advance(5 * 60_000);
      }),
    );
  });

  test("awkward room names and messages are stored and returned exactly, or refused with a clear 422", async () => {
    const seen = new Set<string>();
    const storable = (s: string) => !s.includes("\u0000") && s.isWellFormed();
    // A message must show something: only whitespace, controls and format/default-ignorable characters is empty.
    const visible = (s: string) => !/^[\p{White_Space}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]*$/u.test(s);
    await check(
      fc.asyncProperty(nastyText, async (text) => {
        const trimmed = text.trim();
        const room = await send("POST", "/rooms/", {
          body: JSON.stringify({ name: text }),
          contentType: "application/json",
          token: admin.token,
        });
        const validName = trimmed !== "" && text.length <= 100 && storable(trimmed);
        if (room.status === 201) {
          expect(room.json.name).toBe(trimmed);
          expect((await send("GET", `/rooms/${room.json.id}`, { token: fuzzer.token })).json.name).toBe(trimmed);
          seen.add(trimmed);
        } else if (validName && seen.has(trimmed)) {
          expect([room.status, room.json.code]).toEqual([400, "ROOM_NAME_TAKEN"]);
        } else {
          expect(validName).toBe(false);
          expect(room.status).toBe(422);
          if (trimmed !== "" && text.length <= 100) expect(room.json.code).toBe("TEXT_NOT_STORABLE");
        }

        const message = await send("POST", `/rooms/${roomId}/messages`, {
          body: JSON.stringify({ content: text }),
          contentType: "application/json",
          token: fuzzer.token,
        });
        if (visible(trimmed) && storable(trimmed)) {
          expect(message.status).toBe(201);
          expect(message.json.content).toBe(trimmed);
          const page = await send("GET", `/rooms/${roomId}/messages?after=${message.json.id - 1}&limit=1`, {
            token: fuzzer.token,
          });
          expect(page.json[0].content).toBe(trimmed);
        } else {
          expect(message.status).toBe(422);
          expect(["CONTENT_EMPTY", "TEXT_NOT_STORABLE"]).toContain(message.json.code);
        }

        const clientId = text.slice(0, 64); // may cut a surrogate pair in two: one more lone surrogate
        if (clientId === "") return;
        const tagged = await send("POST", `/rooms/${roomId}/messages`, {
          body: JSON.stringify({ content: "awkward client_id", client_id: clientId }),
          contentType: "application/json",
          token: fuzzer.token,
        });
        if (storable(clientId)) expect([tagged.status, tagged.json.client_id]).toEqual([201, clientId]);
        else expect([tagged.status, tagged.json.code]).toEqual([422, "TEXT_NOT_STORABLE"]);
      }),
    );
  });
});

describe(`WebSocket fuzzing (${dialect})`, () => {
  let socket: TestSocket;
  let sentinel = 0;
  beforeAll(async () => {
    socket = new TestSocket(`${ws}/ws/${roomId}?token=${fuzzer.token}`);
    await socket.opened;
    await socket.nextOfType("user_joined");
  });
  afterAll(() => socket.close());

  /**
   * Sends a frame, then a valid sentinel; what arrived before both the sentinel's ack and its broadcast is the
   * frame's outcome (acks and broadcasts each keep their order, but an ack may overtake a broadcast).
   */
  async function outcomeOf(frame: string): Promise<Frame[]> {
    const start = socket.frames.length;
    socket.send(frame);
    const clientId = `sentinel-${++sentinel}`;
    socket.send({ content: "sentinel", client_id: clientId });
    const ack = await socket.next((f) => f.client_id === clientId && (f.type === "ack" || f.type === "error"));
    expect(ack.type).toBe("ack");
    const broadcast = await socket.next((f) => f.type === "message" && f.client_id === clientId);
    const end = Math.max(socket.frames.indexOf(ack), socket.frames.indexOf(broadcast));
    return socket.frames.slice(start, end).filter((f) => !String(f.client_id).startsWith("sentinel-"));
  }

  const clientId = fc.oneof(
    fc.string({ maxLength: 70 }),
    fc.string({ unit: anyUnit, minLength: 1, maxLength: 64 }),
    fc.integer(),
    fc.constant(null),
    fc.constant(""),
    fc.boolean(),
  );
  const frameText = fc.oneof(
    fc.string({ unit: anyUnit, maxLength: 200 }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc
      .record(
        {
          type: fc.oneof(
            fc.constantFrom("message", "typing", "ack", "error", "MESSAGE", ""),
            fc.string(),
            fc.integer(),
            fc.constant(null),
          ),
          content: fc.oneof(
            nastyText,
            fc.integer(),
            fc.constant(null),
            fc.array(fc.string(), { maxLength: 2 }),
            fc.string({ minLength: 3990, maxLength: 4010 }),
          ),
          client_id: clientId,
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o)),
    fc.integer({ min: 1, max: 2000 }).map((n) => "[".repeat(n) + "]".repeat(n)),
  );

  test("random frames: refused ones get one error frame with a code, stored ones their broadcast or ack, typing nothing", async () => {
    await check(
      fc.asyncProperty(frameText, async (frame) => {
        const outcome = await outcomeOf(frame);
        let parsed: any;
        try {
          parsed = JSON.parse(frame);
        } catch {
          parsed = undefined;
        }
        const isTyping =
          parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) && parsed.type === "typing";
        if (isTyping) return expect(outcome).toEqual([]);
        const errors = outcome.filter((f) => f.type === "error");
        const accepted = outcome.filter((f) => f.type === "ack" || f.type === "message");
        if (errors.length > 0) {
          expect(errors).toHaveLength(1);
          expect(errors[0]!.code).toMatch(/^[A-Z_]+$/);
          expect(accepted).toEqual([]);
        } else {
          // Stored: its broadcast, and an ack when it carried a client_id (a resent client_id: the ack alone).
          expect(accepted.length).toBeGreaterThanOrEqual(1);
          expect(accepted.filter((f) => f.type === "ack").length).toBeLessThanOrEqual(1);
          expect(accepted.filter((f) => f.type === "message").length).toBeLessThanOrEqual(1);
        }
      }),
      300,
    );
  });

  test("a client_id with NUL or a lone surrogate is refused alone: the neighbour in the same batch is stored and acked", async () => {
    const other = await t.user("neighbour");
    const next = new TestSocket(`${ws}/ws/${roomId}?token=${other.token}`);
    await next.opened;
    await next.nextOfType("user_joined");
    for (const [i, bad] of ["\u0000", "x\ud800", "\udc00"].entries()) {
      const start = socket.frames.length;
      socket.send({ content: "hostile id", client_id: bad });
      next.send({ content: "innocent", client_id: `innocent-${i}` });
      const refusal = await socket.next((f) => f.type === "error" && socket.frames.indexOf(f) >= start);
      expect(refusal).toMatchObject({ code: "INVALID_FRAME" });
      expect(
        await next.next((f) => f.client_id === `innocent-${i}` && (f.type === "ack" || f.type === "error")),
      ).toMatchObject({ type: "ack" });
    }
    await next.close();
  });

  test("frames over 16 KiB close the socket with 1009; the server keeps serving", async () => {
    await check(
      fc.asyncProperty(
        fc.integer({ min: 16 * 1024 + 1, max: 64 * 1024 }),
        fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 8 }),
        async (size, unit) => {
          const big = new TestSocket(`${ws}/ws/${roomId}?token=${fuzzer.token}`);
          await big.opened;
          big.send(unit.repeat(Math.ceil(size / unit.length)).slice(0, size));
          expect((await big.closed).code).toBe(1009);
        },
      ),
      5,
    );
  });

  test("after all that: the socket is usable, a valid message is acked and stored, and /health answers", async () => {
    const ack = await socket.say("still standing", "final-check");
    expect(ack.type).toBe("ack");
    const page = await send("GET", `/rooms/${roomId}/messages?limit=1`, { token: fuzzer.token });
    expect(page.json[0]).toMatchObject({ id: ack.id, content: "still standing" });
    expect((await send("GET", "/health")).json).toEqual({ status: "healthy" });
  });
});
