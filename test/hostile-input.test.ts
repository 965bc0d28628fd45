// Hostile input (issue 14, items 11-13): tokens spelled every way never reach the log, broken request bodies
// are a 4xx and never an unhandled error, integers in URLs are canonical decimals only, a password is text,
// a message of invisible characters is empty, and a binary frame is read as UTF-8 JSON or refused clearly.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../src/app.ts";
import { MAX_REQUEST_BODY_BYTES } from "../src/body-limit.ts";
import { setUpChat, startServer, until, type ServerProcess } from "./fault-support.ts";
import { createTestApp, dialect, openTestStore, scratchDatabase, TEST_SECRET, type TestApp } from "./support.ts";
import { TestSocket } from "./ws-client.ts";

/** Every byte as %XX, letters included, so nothing of the text is left to read. */
const encodeAll = (s: string) =>
  [...new TextEncoder().encode(s)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");

/** A WebSocket attempt that settles whether the server upgrades or refuses it. */
async function attempt(url: string, protocols?: string[]): Promise<"open" | "refused"> {
  const socket = new TestSocket(url, protocols);
  const outcome = await socket.opened.then(
    () => "open" as const,
    () => "refused" as const,
  );
  if (outcome === "open") await socket.close();
  return outcome;
}

/** Writes `text` on a new TCP connection (then closes it if `hangUp`); resolves with what the server sent before closing. */
async function rawHttp(
  port: number,
  text: string,
  hangUp = false,
): Promise<{ status: number | undefined; body: string }> {
  const closed = Promise.withResolvers<void>();
  let received = "";
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_socket, bytes) {
        received += new TextDecoder().decode(bytes);
      },
      close() {
        closed.resolve();
      },
      error() {
        closed.resolve();
      },
    },
  });
  socket.write(text);
  if (hangUp) socket.end();
  await closed.promise;
  const status = /^HTTP\/1\.1 (\d{3})/.exec(received)?.[1];
  return {
    status: status === undefined ? undefined : Number(status),
    body: received.slice(received.indexOf("\r\n\r\n") + 4),
  };
}

const chunkedHead = (path: string) =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;
const chunk = (text: string) => `${new TextEncoder().encode(text).byteLength.toString(16)}\r\n${text}\r\n`;
const chunks = (text: string, size = 8192) => {
  let out = "";
  for (let i = 0; i < text.length; i += size) out += chunk(text.slice(i, i + size));
  return `${out}0\r\n\r\n`;
};

/** `http_requests_total` series as "METHOD route status" -> count. */
async function requestCounts(base: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^http_requests_total\{method="([^"]+)",route="([^"]+)",status="(\d+)"\} (\d+)$/gm)) {
    counts.set(`${m[1]} ${m[2]} ${m[3]}`, Number(m[4]));
  }
  return counts;
}

// ---- the server as it runs in production (main.ts: stdout request log, Bun's body limit)

let server: ServerProcess;
let dropDatabase: (() => Promise<void>) | undefined;
let chat: { roomId: number; adminToken: string; tokens: string[] };

beforeAll(async () => {
  let url = "sqlite::memory:";
  if (dialect === "postgres") {
    const scratch = await scratchDatabase("chat_hostile_input");
    url = scratch.url;
    dropDatabase = scratch.drop;
  }
  server = await startServer(url);
  chat = await setUpChat(server.http, ["reader"]);
});

afterAll(async () => {
  await server?.stop();
  await dropDatabase?.();
});

describe(`tokens never reach the log (${dialect})`, () => {
  test("a token in the query, spelled any way, or as the bearer subprotocol, is never written to stdout or stderr", async () => {
    const token = chat.tokens[0]!;
    const ws = `${server.ws}/ws/${chat.roomId}`;
    const opened = [
      await attempt(`${ws}?token=${token}`),
      await attempt(`${ws}?%74oken=${token}`), // the report: Elysia decodes the name
      await attempt(`${ws}?${encodeAll("token")}=${encodeAll(token)}`),
      await attempt(`${ws}?tok%65n=${token.replaceAll(".", "%2E")}&since=0`),
      await attempt(`${ws}?since=0&token=${token}`),
      await attempt(`${ws}?token=${token}&token=${token}`), // repeated: the last one counts
      await attempt(ws, ["chat", `bearer.${token}`]),
    ];
    expect(opened).toEqual(opened.map(() => "open" as const));
    // Refused, but the token is still a live secret.
    const refused = [
      await attempt(`${ws}?token=${encodeAll(encodeAll(token))}`),
      await attempt(`${ws}?foo=${token}`),
      await attempt(`${ws}?a=1;token=${token}`),
      await attempt(`${ws}?token=${token.replace(".", "+.")}`),
      await attempt(`${server.ws}/ws/999999?token=${token}`),
      await attempt(`${server.ws}/ws/999999`, ["chat", `bearer.${token}`]),
      await attempt(`${server.ws}/ws/${token}`),
    ];
    expect(refused).toEqual(refused.map(() => "refused" as const));
    for (const path of [
      `/rooms/${chat.roomId}/messages?token=${token}`,
      `/rooms/${encodeAll(token)}`,
      `/auth/me?%74oken=${encodeURIComponent(token)}`,
    ]) {
      await fetch(`${server.http}${path}`, { headers: { authorization: `Bearer ${token}` } });
    }

    // Lines are written in order: once this request's line is out, so are all the lines before it.
    const marker = crypto.randomUUID();
    await fetch(`${server.http}/health`, { headers: { "x-request-id": marker } });
    await until(() => server.output.some((line) => line.includes(marker)), "the marker request's log line");

    const wsLines = server.output.filter((line) => line.includes('"/ws/:room_id"'));
    expect(wsLines.filter((line) => line.includes('"status":101')).length).toBe(opened.length);
    expect(server.output.some((line) => line.includes("%74oken=REDACTED"))).toBe(true);
    const [, payload, signature] = token.split(".");
    for (const line of server.output) {
      let plain = line;
      for (let i = 0; i < 3; i++) plain = plain.replace(/(%[0-9a-fA-F]{2})+/g, (run) => decodeURIComponent(run));
      for (const text of [line, plain]) {
        expect(text).not.toContain(signature!);
        expect(text).not.toContain(payload!);
        expect(text).not.toContain("bearer.");
      }
    }
  });

  test("an unhandled error's log line blanks the token too", async () => {
    const store = await openTestStore();
    const lines: string[] = [];
    try {
      const config = { secretKey: TEST_SECRET, accessTokenTtlSeconds: 1800, bcryptCost: 4, corsOrigins: "*" as const };
      const broken = await createApp({
        store: { ...store, listRoomListings: () => Promise.reject(new Error("a bug")) },
        config,
        log: (line) => lines.push(JSON.stringify(line)),
      });
      const admin = { username: "admin", email: "admin@example.com", password: "admin-password", role: "admin" };
      const post = (path: string, body: unknown) =>
        broken.app.handle(
          new Request(`http://localhost${path}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          }),
        );
      expect((await post("/auth/signup", admin)).status).toBe(201);
      const token = (await (await post("/auth/login", admin)).json()).access_token as string;
      const response = await broken.app.handle(
        new Request(`http://localhost/rooms?%74oken=${token}`, { headers: { authorization: `Bearer ${token}` } }),
      );
      expect(response.status).toBe(500);
      expect(lines.length).toBe(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ msg: "unhandled error", path: "/rooms?%74oken=REDACTED" });
      expect(lines[0]).not.toContain(token.split(".")[2]!);
      await broken.writer.drain();
      await broken.hub.stop();
    } finally {
      await store.dispose();
    }
  });
});

describe(`broken request bodies are a 4xx (${dialect})`, () => {
  const signup = "/auth/signup";
  const oversized = JSON.stringify({
    username: "huge",
    email: "huge@example.com",
    password: "x".repeat(MAX_REQUEST_BODY_BYTES),
  });

  /** The four attacks on a listening server; returns what each got back on the wire. */
  async function attack(port: number) {
    return {
      malformedChunkSize: await rawHttp(port, `${chunkedHead(signup)}zz\r\n{}\r\n0\r\n\r\n`),
      cutOffMidChunk: await rawHttp(port, `${chunkedHead(signup)}100\r\n{"username":"cut`, true),
      cutOffDeclaredLength: await rawHttp(
        port,
        `POST ${signup} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"username":`,
        true,
      ),
      overLimit: await rawHttp(port, chunkedHead(signup) + chunks(oversized)),
      invalidJson: await rawHttp(port, chunkedHead(signup) + chunks('{"username": "x", oops}')),
    };
  }

  /** Waits until /metrics has counted every attack, then checks no request was a 5xx. */
  async function expectCounted(base: string) {
    const expected = {
      "POST unmatched 400": 2,
      "POST unmatched 413": 1,
      "POST /auth/signup 400": 1,
      "POST /auth/signup 422": 1,
    };
    let counts = new Map<string, number>();
    await until(
      async () => {
        counts = await requestCounts(base);
        return Object.entries(expected).every(([series, n]) => (counts.get(series) ?? 0) >= n);
      },
      `/metrics to count the attacks: ${JSON.stringify(expected)}`,
    );
    expect([...counts].filter(([series]) => / 5\d\d$/.test(series))).toEqual([]);
  }

  test("production server (Bun's maxRequestBodySize): 400, 400, 413, 422, counted so, nothing unhandled", async () => {
    const got = await attack(Number(new URL(server.http).port));
    // Bun answers a malformed chunk itself and closes; a client that hung up gets nothing back.
    expect(got.malformedChunkSize.status).toBe(400);
    expect(got.overLimit.status).toBe(413);
    expect(got.invalidJson.status).toBe(422);
    expect(JSON.parse(got.invalidJson.body).code).toBe("INVALID_BODY");
    await expectCounted(server.http);
    expect(server.output.filter((line) => line.includes("unhandled error"))).toEqual([]);
    expect((await fetch(`${server.http}/health`)).status).toBe(200);
  });

  test("a server without Bun's limit (the app's own body limit): the same answers and counts", async () => {
    const logged: unknown[] = [];
    const store = await openTestStore();
    const config = { secretKey: TEST_SECRET, accessTokenTtlSeconds: 1800, bcryptCost: 4, corsOrigins: "*" as const };
    const plain = await createApp({ store, config, log: (line) => logged.push(line) });
    plain.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
    try {
      const got = await attack(plain.app.server!.port!);
      expect(got.malformedChunkSize.status).toBe(400);
      expect(got.overLimit.status).toBe(413);
      expect(JSON.parse(got.overLimit.body).code).toBe("BODY_TOO_LARGE");
      expect(got.invalidJson.status).toBe(422);
      await expectCounted(`http://127.0.0.1:${plain.app.server!.port}`);
      expect(logged).toEqual([]);
    } finally {
      await plain.app.stop(true);
      await plain.writer.drain();
      await plain.hub.stop();
      await store.dispose();
    }
  });
});

// ---- items 13: canonical ids, passwords, invisible content, binary frames (the app in-process)

let t: TestApp;
let admin: Awaited<ReturnType<TestApp["user"]>>;
let roomId: number;
let messageId: number;
let wsBase: string;

/** The handshake's HTTP answer (Bun's WebSocket client does not report a refused one's status). */
async function handshake(path: string, token: string): Promise<number> {
  const response = await fetch(
    `${wsBase.replace(/^ws/, "http")}${path}${path.includes("?") ? "&" : "?"}token=${token}`,
    {
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": btoa("0123456789abcdef"),
      },
    },
  );
  await response.body?.cancel();
  return response.status;
}

describe(`small hostile inputs (${dialect})`, () => {
  beforeAll(async () => {
    t = await createTestApp();
    t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
    wsBase = `ws://127.0.0.1:${t.app.server!.port}`;
    admin = await t.user("admin", { role: "admin" });
    // Ids 1: the room, the admin, and the message, so each spelling of 1 below would find something.
    roomId = (await t.request("POST", "/rooms", { token: admin.token, body: { name: "one" } })).json.id;
    messageId = (
      await t.request("POST", `/rooms/${roomId}/messages`, { token: admin.token, body: { content: "first" } })
    ).json.id;
    expect([roomId, messageId, admin.id]).toEqual([1, 1, 1]);
  });
  afterAll(async () => {
    await t.app.stop(true);
    await t.dispose();
  });

  const spellingsOfOne = ["0x1", "1e0", "%2B1", "+1", "%201", "1%20", "01", "1.0", "0b1", "%EF%BC%91", "1_0"];

  test("an id spelled other than in canonical decimal is 422 on every route, never item 1", async () => {
    const token = admin.token;
    for (const one of spellingsOfOne) {
      const answers = [
        await t.request("GET", `/rooms/${one}`, { token }),
        await t.request("GET", `/rooms/${one}/messages`, { token }),
        await t.request("POST", `/rooms/${one}/messages`, { token, body: { content: "nope" } }),
        await t.request("PATCH", `/messages/${one}`, { token, body: { content: "edited" } }),
        await t.request("DELETE", `/messages/${one}`, { token }),
        await t.request("PATCH", `/users/${one}`, { token, body: { role: "admin" } }),
        await t.request("DELETE", `/rooms/${one}`, { token }),
      ];
      expect({ one, statuses: answers.map((a) => a.status) }).toEqual({ one, statuses: answers.map(() => 422) });
      expect(answers[0]!.json.detail[0].msg).toContain("decimal digits");
      expect(await handshake(`/ws/${one}`, token)).toBe(422);
    }
    // Percent-encoding a digit is the same URL (RFC 3986), not another spelling of the number.
    expect((await t.request("GET", "/rooms/%31", { token })).json.id).toBe(1);
    // Nothing was edited, deleted or demoted by any of the above.
    const page = await t.request("GET", `/rooms/${roomId}/messages`, { token });
    expect(page.json.map((m: { content: string }) => m.content)).toEqual(["first"]);
    expect((await t.request("GET", "/auth/me", { token })).json.role).toBe("admin");
  });

  test("cursors and page sizes are canonical too: before, after, skip, limit and the socket's since", async () => {
    const token = admin.token;
    for (const one of spellingsOfOne) {
      for (const name of ["before", "after", "skip", "limit"]) {
        const page = await t.request("GET", `/rooms/${roomId}/messages?${name}=${one}`, { token });
        expect({ name, one, status: page.status }).toEqual({ name, one, status: 422 });
      }
      expect(await handshake(`/ws/${roomId}?since=${one}`, token)).toBe(422);
    }
    for (const query of ["before=2", "after=0", "skip=0", "limit=1", "after=0&limit=100"]) {
      expect((await t.request("GET", `/rooms/${roomId}/messages?${query}`, { token })).status).toBe(200);
    }
    expect((await t.request("GET", `/rooms/${roomId}/messages?limit=101`, { token })).status).toBe(422);
    const socket = new TestSocket(`${wsBase}/ws/${roomId}?token=${token}&since=0`);
    expect((await socket.nextOfType("sync")).complete).toBe(true);
    await socket.close();
  });

  test("a password with an unpaired surrogate is refused at signup (422), not changed to U+FFFD", async () => {
    for (const password of ["password\ud800", "\udc00password", "pass\udbffword"]) {
      const refused = await t.request("POST", "/auth/signup", {
        body: { username: "surrogate", email: "surrogate@example.com", password },
      });
      expect([refused.status, refused.json.code]).toEqual([422, "TEXT_NOT_STORABLE"]);
      expect(refused.json.detail).toContain("password");
    }
    // No account was made: the name is free, and the U+FFFD spelling logs nobody in.
    expect(
      (await t.request("POST", "/auth/login", { body: { username: "surrogate", password: "password\ufffd" } })).status,
    ).toBe(401);
    const made = await t.request("POST", "/auth/signup", {
      body: { username: "surrogate", email: "surrogate@example.com", password: "password\ufffd" },
    });
    expect(made.status).toBe(201);
    // Login compares, it never stores: a lone surrogate there is one more wrong password.
    expect(
      (await t.request("POST", "/auth/login", { body: { username: "surrogate", password: "password\ud800x" } })).status,
    ).toBe(401);
    expect(
      (await t.request("POST", "/auth/login", { body: { username: "surrogate", password: "password\ufffd" } })).status,
    ).toBe(200);
  });

  const invisible = [
    "\u200b",
    "\u200b\u200c\u200d",
    "\u2060\ufeff",
    " \u200b \t\u200b\n",
    "\u00ad",
    "\u180e",
    "\u200e\u200f",
    "\u202a\u202c",
    "\u2066\u2069",
    "\u3164",
    "\u115f\u1160",
    "\ufe0f",
    "\u{e0020}\u{e007f}",
    "\u034f",
    "\u00a0\u2028\u3000",
    "\u0001\u007f",
  ];

  test("a message of only invisible characters is CONTENT_EMPTY over HTTP, for edits, and on the socket", async () => {
    const token = admin.token;
    const socket = new TestSocket(`${wsBase}/ws/${roomId}?token=${token}`);
    await socket.opened;
    for (const content of invisible) {
      const posted = await t.request("POST", `/rooms/${roomId}/messages`, { token, body: { content } });
      expect({ content, status: posted.status, code: posted.json.code }).toEqual({
        content,
        status: 422,
        code: "CONTENT_EMPTY",
      });
      const edited = await t.request("PATCH", `/messages/${messageId}`, { token, body: { content } });
      expect([edited.status, edited.json.code]).toEqual([422, "CONTENT_EMPTY"]);
      const said = await socket.say(content);
      expect([said.type, said.code]).toEqual(["error", "CONTENT_EMPTY"]);
    }
    // Visible text next to invisible characters is a message, stored as sent (ZWJ emoji sequences need them).
    const family = "\u{1f468}\u200d\u{1f469}\u200d\u{1f467}";
    expect((await socket.say(family)).type).toBe("ack");
    expect((await t.request("POST", `/rooms/${roomId}/messages`, { token, body: { content: "a\u200b" } })).status).toBe(
      201,
    );
    await socket.close();
    const page = await t.request("GET", `/rooms/${roomId}/messages?limit=2`, { token });
    expect(page.json.map((m: { content: string }) => m.content)).toEqual(["a\u200b", family]);
  });

  test("a binary frame of UTF-8 JSON is read like a text frame; other bytes get a clear error and the socket stays usable", async () => {
    const socket = new TestSocket(`${wsBase}/ws/${roomId}?token=${admin.token}`);
    await socket.opened;
    const bytes = (frame: object) => new TextEncoder().encode(JSON.stringify(frame));

    socket.ws.send(bytes({ content: "sent as binary ✓", client_id: "binary-1" }));
    const ack = await socket.next((f) => f.type === "ack" && f.client_id === "binary-1");
    const heard = await socket.next((f) => f.type === "message" && f.id === ack.id);
    expect(heard.content).toBe("sent as binary ✓");

    for (const garbage of [
      new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]),
      new Uint8Array([0x7b, 0xc3]),
      new Uint8Array([0xed, 0xa0, 0x80]),
    ]) {
      socket.ws.send(garbage);
      const error = await socket.nextOfType("error");
      expect(error.code).toBe("INVALID_FRAME");
      expect(error.detail).toContain("UTF-8 JSON");
    }
    socket.ws.send(new TextEncoder().encode("not json"));
    expect((await socket.nextOfType("error")).code).toBe("INVALID_JSON");
    socket.ws.send(bytes({ type: "typing" }));
    expect((await socket.say("still here")).type).toBe("ack");
    await socket.close();
  });
});
