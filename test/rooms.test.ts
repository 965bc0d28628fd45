// Rooms and history over HTTP: admin-only writes, cascade delete, cursor pagination, posting, edits, bad input.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestApp, dialect, type TestApp } from "./support.ts";

let t: TestApp;
let admin: Awaited<ReturnType<TestApp["user"]>>;
let user: Awaited<ReturnType<TestApp["user"]>>;
beforeAll(async () => {
  t = await createTestApp({ limits: { messagesPerSecond: 1000, messageBurst: 1000 } }); // 120 posts in a row
  admin = await t.user("admin", { role: "admin" });
  user = await t.user("someone");
});
afterAll(() => t.dispose());

async function makeRoom(name: string) {
  const response = await t.request("POST", "/rooms/", {
    token: admin.token,
    body: { name, description: `${name} room` },
  });
  expect(response.status).toBe(201);
  return response.json as { id: number; name: string };
}

async function post(roomId: number, content: string, token = user.token, clientId?: string) {
  return t.request("POST", `/rooms/${roomId}/messages`, { token, body: { content, client_id: clientId } });
}

describe(`rooms (${dialect})`, () => {
  test("admins create rooms (seed shape), users cannot, names are unique", async () => {
    const created = await t.request("POST", "/rooms/", {
      token: admin.token,
      body: { name: "General", description: "General discussion room" },
    });
    expect(created.status).toBe(201);
    // The seed's fields, plus what private rooms added.
    expect(created.json).toEqual({
      id: expect.any(Number),
      name: "General",
      description: "General discussion room",
      created_at: expect.any(String),
      visibility: "public",
      kind: "room",
      member_count: null,
      last_read_id: null,
      unread_count: null,
      unread_capped: false,
      last_message: null,
    });
    const noDescription = await t.request("POST", "/rooms", { token: admin.token, body: { name: "Quiet" } });
    expect(noDescription.json.description).toBeNull();
    expect((await t.request("POST", "/rooms/", { token: user.token, body: { name: "Mine" } })).status).toBe(403);
    expect((await t.request("POST", "/rooms/", { body: { name: "Anon" } })).status).toBe(401);
    const duplicate = await t.request("POST", "/rooms/", { token: admin.token, body: { name: "General" } });
    expect(duplicate.status).toBe(400);
    expect(duplicate.json.detail).toBeString();
  });

  test("list, get, 404", async () => {
    const list = await t.request("GET", "/rooms/", { token: user.token });
    expect(list.status).toBe(200);
    expect(list.json.map((r: { name: string }) => r.name)).toEqual(expect.arrayContaining(["General", "Quiet"]));
    const one = await t.request("GET", `/rooms/${list.json[0].id}`, { token: user.token });
    expect(one.json).toEqual(list.json[0]);
    const missing = await t.request("GET", "/rooms/999999", { token: user.token });
    expect(missing.status).toBe(404);
    expect(missing.json.detail).toBe("Room not found");
  });

  test("deleting a room with messages works (seed defect 3) and takes its history with it", async () => {
    const room = await makeRoom("Doomed");
    expect((await post(room.id, "last words")).status).toBe(201);
    expect((await t.request("DELETE", `/rooms/${room.id}`, { token: user.token })).status).toBe(403);
    const deleted = await t.request("DELETE", `/rooms/${room.id}`, { token: admin.token });
    expect(deleted.status).toBe(204);
    expect((await t.request("GET", `/rooms/${room.id}`, { token: user.token })).status).toBe(404);
    expect((await t.request("GET", `/rooms/${room.id}/messages`, { token: user.token })).status).toBe(404);
    expect((await t.request("DELETE", `/rooms/${room.id}`, { token: admin.token })).status).toBe(404);
  });

  test("bad room input -> 422", async () => {
    for (const body of [
      {},
      { name: "" },
      { name: "   " },
      { name: "x".repeat(101) },
      { name: 5 },
      { name: "ok", description: 7 },
    ]) {
      expect((await t.request("POST", "/rooms/", { token: admin.token, body })).status).toBe(422);
    }
    for (const id of ["abc", "0", "-3", "1.5", "2147483648"]) {
      expect((await t.request("GET", `/rooms/${id}`, { token: user.token })).status).toBe(422);
    }
  });
});

describe(`messages (${dialect})`, () => {
  let room: { id: number };
  const ids: number[] = [];

  beforeAll(async () => {
    room = await makeRoom("History");
    for (let i = 0; i < 120; i++) {
      const response = await post(room.id, `message ${i}`, i % 2 ? user.token : admin.token);
      ids.push(response.json.id);
    }
  });

  test("a posted message has the seed's fields, including its author", async () => {
    const response = await post(room.id, "  hello there  ");
    expect(response.status).toBe(201);
    expect(response.json).toEqual({
      id: expect.any(Number),
      content: "hello there",
      timestamp: expect.stringMatching(/\.\d{3}Z$/),
      user_id: user.id,
      room_id: room.id,
      client_id: null,
      edited_at: null,
      // The seed's user object without the email (an email is private to its owner and the admins).
      user: { id: user.id, username: "someone", role: "user", created_at: expect.any(String) },
    });
    ids.push(response.json.id);
  });

  test("history is newest first with a default page of 50, and ordered within one millisecond (seed defect 5)", async () => {
    const page = await t.request("GET", `/rooms/${room.id}/messages`, { token: user.token });
    expect(page.status).toBe(200);
    expect(page.json).toHaveLength(50);
    expect(page.json.map((m: { id: number }) => m.id)).toEqual(ids.slice(-50).reverse());
    expect(page.json[1].content).toBe("message 119");
  });

  test("before= pages back without gaps or repeats; after= pages forward oldest first", async () => {
    const seen: number[] = [];
    let cursor: number | undefined;
    for (;;) {
      const query = cursor ? `?limit=40&before=${cursor}` : "?limit=40";
      const page = await t.request("GET", `/rooms/${room.id}/messages${query}`, { token: user.token });
      if (page.json.length === 0) break;
      seen.push(...page.json.map((m: { id: number }) => m.id));
      cursor = page.json.at(-1).id;
    }
    expect(seen).toEqual([...ids].reverse());
    const forward = await t.request("GET", `/rooms/${room.id}/messages?after=${ids[9]}&limit=3`, { token: user.token });
    expect(forward.json.map((m: { id: number }) => m.id)).toEqual(ids.slice(10, 13));
  });

  test("skip still works (seed clients) and limit is capped at 100", async () => {
    const skipped = await t.request("GET", `/rooms/${room.id}/messages?skip=5&limit=2`, { token: user.token });
    expect(skipped.json.map((m: { id: number }) => m.id)).toEqual([ids.at(-6), ids.at(-7)]);
    const big = await t.request("GET", `/rooms/${room.id}/messages?limit=101`, { token: user.token });
    expect(big.status).toBe(422);
    const max = await t.request("GET", `/rooms/${room.id}/messages?limit=100`, { token: user.token });
    expect(max.json).toHaveLength(100);
  });

  test("bad pagination input -> 422 with a detail, never a 500", async () => {
    for (const query of [
      "limit=0",
      "limit=-5",
      "limit=abc",
      "limit=1e9",
      "skip=-1",
      "before=0",
      "before=abc",
      "after=-2",
      "before=99999999999999",
      "before=5&after=3",
      "skip=2&before=5",
    ]) {
      const response = await t.request("GET", `/rooms/${room.id}/messages?${query}`, { token: user.token });
      expect([query, response.status]).toEqual([query, 422]);
      expect(response.json.detail).toBeDefined();
    }
    expect((await t.request("GET", `/rooms/${room.id}/messages`)).status).toBe(401);
  });

  test("a repeated client_id stores once and returns the same message", async () => {
    const first = await post(room.id, "exactly once", user.token, "bot-42");
    const again = await post(room.id, "exactly once", user.token, "bot-42");
    expect(again.status).toBe(201);
    expect(again.json.id).toBe(first.json.id);
    const page = await t.request("GET", `/rooms/${room.id}/messages?limit=5`, { token: user.token });
    expect(page.json.filter((m: { content: string }) => m.content === "exactly once")).toHaveLength(1);
  });

  test("posting: empty, too long, wrong types, or to a missing room are refused clearly", async () => {
    expect((await post(room.id, "   ")).status).toBe(422);
    expect((await post(room.id, "x".repeat(4001))).status).toBe(422);
    expect((await post(room.id, "x".repeat(4000))).status).toBe(201);
    expect(
      (await t.request("POST", `/rooms/${room.id}/messages`, { token: user.token, body: { content: 5 } })).status,
    ).toBe(422);
    expect((await t.request("POST", `/rooms/${room.id}/messages`, { token: user.token, body: "nope" })).status).toBe(
      422,
    );
    expect((await post(room.id, "hi", user.token, "x".repeat(65))).status).toBe(422);
    for (const bad of ["nul \u0000 inside", "lone \uD800 surrogate"]) {
      const refused = await post(room.id, bad);
      expect(refused.status).toBe(422);
      expect(refused.json.code).toBe("TEXT_NOT_STORABLE");
    }
    const nulRoom = await t.request("POST", "/rooms/", { token: admin.token, body: { name: "nul\u0000room" } });
    expect(nulRoom.status).toBe(422);
    const missing = await post(999_999, "anyone?");
    expect(missing.status).toBe(404);
    expect(missing.json.detail).toBe("Room not found");
  });

  test("authors edit their messages; authors and admins delete", async () => {
    const mine = await post(room.id, "tpyo");
    const edited = await t.request("PATCH", `/messages/${mine.json.id}`, {
      token: user.token,
      body: { content: "typo" },
    });
    expect(edited.status).toBe(200);
    expect(edited.json).toMatchObject({ content: "typo", edited_at: expect.any(String) });
    expect(
      (await t.request("PATCH", `/messages/${mine.json.id}`, { token: admin.token, body: { content: "hijack" } }))
        .status,
    ).toBe(403);
    const adminsOwn = await post(room.id, "admin says", admin.token);
    expect((await t.request("DELETE", `/messages/${adminsOwn.json.id}`, { token: user.token })).status).toBe(403);
    expect((await t.request("DELETE", `/messages/${mine.json.id}`, { token: admin.token })).status).toBe(204);
    expect((await t.request("DELETE", `/messages/${mine.json.id}`, { token: admin.token })).status).toBe(404);
    expect((await t.request("PATCH", "/messages/999999", { token: user.token, body: { content: "x" } })).status).toBe(
      404,
    );
  });
});

describe(`service routes (${dialect})`, () => {
  test("GET / is the seed's index, /health is healthy, unknown paths are 404 with a detail", async () => {
    const index = await t.request("GET", "/");
    expect(index.json).toMatchObject({
      docs: "/docs",
      chat_client: "/chat",
      websocket: expect.stringContaining("/ws/"),
    });
    expect((await t.request("GET", "/health")).json).toEqual({ status: "healthy" });
    const missing = await t.request("GET", "/nope");
    expect(missing.status).toBe(404);
    expect(missing.json.detail).toBe("Not Found");
  });

  test("/docs serves Swagger UI and /docs/json documents every route with its auth", async () => {
    const ui = await t.request("GET", "/docs");
    expect(ui.status).toBe(200);
    expect(ui.text).toContain("swagger");
    const spec = await t.request("GET", "/docs/json");
    const paths = Object.keys(spec.json.paths);
    for (const path of [
      "/auth/signup",
      "/auth/login",
      "/auth/me",
      "/rooms/",
      "/rooms/{id}",
      "/rooms/{id}/messages",
      "/users",
      "/users/{id}",
      "/messages/{id}",
    ]) {
      expect(paths.some((p) => p.replace(/\/$/, "") === path.replace(/\/$/, ""))).toBe(true);
    }
    expect(spec.json.components.securitySchemes.bearer.scheme).toBe("bearer");
    const me = Object.entries(spec.json.paths).find(([p]) => p === "/auth/me")![1] as any;
    expect(me.get.security).toEqual([{ bearer: [] }]);
  });

  test("CORS: any origin with credentials by default, preflight answered", async () => {
    const simple = await t.request("GET", "/health", { headers: { origin: "https://example.org" } });
    expect(simple.headers.get("access-control-allow-origin")).toBe("https://example.org");
    expect(simple.headers.get("access-control-allow-credentials")).toBe("true");
    const preflight = await t.request("OPTIONS", "/rooms/", {
      headers: {
        origin: "https://example.org",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
  });
});

describe(`database gone (${dialect})`, () => {
  test("requests while the database is unreachable get 503 STORE_UNAVAILABLE with Retry-After, not 500", async () => {
    const lost = await createTestApp();
    const someone = await lost.user("someone");
    await lost.store.close();
    const response = await lost.request("GET", "/rooms/", { token: someone.token });
    expect(response.status).toBe(503);
    expect(response.json.code).toBe("STORE_UNAVAILABLE");
    expect(response.headers.get("retry-after")).toBe("1");
    await lost.dispose().catch(() => {});
  });
});
