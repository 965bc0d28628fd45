// Live rooms over real sockets against app.listen(0): the seed's protocol plus acks, sync, presence and faults.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestApp, dialect, type TestApp } from "./support.ts";
import { handshakeStatus, TestSocket } from "./ws-client.ts";

type Account = Awaited<ReturnType<TestApp["user"]>>;
let t: TestApp;
let base: string;
let admin: Account;
let alice: Account;
let bob: Account;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  // Bursts of a few dozen messages per person; the flood test below still goes past this.
  t = await createTestApp({ limits: { messagesPerSecond: 1000, messageBurst: 1000 } });
  t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
  base = `ws://127.0.0.1:${t.app.server!.port}`;
  admin = await t.user("admin", { role: "admin" });
  alice = await t.user("alice");
  bob = await t.user("bob");
});
afterAll(async () => {
  for (const s of sockets) s.ws.close();
  await t.app.stop();
  await t.dispose();
});

async function room(name: string): Promise<number> {
  const response = await t.request("POST", "/rooms/", { token: admin.token, body: { name } });
  return response.json.id;
}

/** Connects and waits until the join is complete (this user's user_joined or active_users arrived). */
async function join(roomId: number, who: Account, options: { since?: number; subprotocol?: boolean } = {}) {
  const query = new URLSearchParams();
  if (!options.subprotocol) query.set("token", who.token);
  if (options.since !== undefined) query.set("since", String(options.since));
  const socket = new TestSocket(
    `${base}/ws/${roomId}?${query}`,
    options.subprotocol ? ["chat", `bearer.${who.token}`] : undefined,
  );
  sockets.push(socket);
  await socket.opened;
  await socket.next((f) => f.type === "active_users" && f.users.some((u: any) => u.username === who.username));
  return socket;
}

describe(`realtime (${dialect})`, () => {
  test("the handshake refuses a missing or bad token, a missing room, with no upgrade", async () => {
    const roomId = await room("handshake");
    expect(await handshakeStatus(`${base}/ws/${roomId}`)).toBe(401);
    expect(await handshakeStatus(`${base}/ws/${roomId}?token=garbage`)).toBe(401);
    expect(await handshakeStatus(`${base}/ws/999999?token=${alice.token}`)).toBe(404);
    expect(await handshakeStatus(`${base}/ws/abc?token=${alice.token}`)).toBe(422);
    // The room is read beside the token's user; a revoked token is still refused as such, whatever the room.
    const gone = await t.user("handshake-revoked");
    await t.request("POST", "/auth/logout", { token: gone.token });
    expect(await handshakeStatus(`${base}/ws/999999?token=${gone.token}`)).toBe(401);
    expect(await handshakeStatus(`${base}/ws/${roomId}?token=${gone.token}`)).toBe(401);
    const socket = new TestSocket(`${base}/ws/${roomId}?token=garbage`);
    expect((await socket.closed).code).not.toBe(1000);
    // A plain GET with a good token is told to upgrade.
    const plain = await fetch(`${base.replace(/^ws/, "http")}/ws/${roomId}?token=${alice.token}`);
    expect([plain.status, plain.headers.get("upgrade"), (await plain.json()).code]).toEqual([
      426,
      "websocket",
      "UPGRADE_REQUIRED",
    ]);
  });

  test("on join: the last 20 messages oldest first, then active_users, then user_joined (the seed's order)", async () => {
    const roomId = await room("join-order");
    const ids: number[] = [];
    for (let i = 0; i < 25; i++) {
      ids.push(
        (await t.request("POST", `/rooms/${roomId}/messages`, { token: bob.token, body: { content: `old ${i}` } })).json
          .id,
      );
    }
    const socket = await join(roomId, alice);
    await socket.nextOfType("user_joined");
    const types = socket.frames.map((f) => f.type);
    expect(types).toEqual([...Array(20).fill("message"), "active_users", "user_joined"]);
    expect(socket.frames.slice(0, 20).map((f) => f.id)).toEqual(ids.slice(5));
    expect(socket.frames[0]).toEqual({
      type: "message",
      id: ids[5],
      content: "old 5",
      username: "bob",
      user_id: bob.id,
      timestamp: expect.any(String),
      room_id: roomId,
      client_id: null,
      edited_at: null,
    });
    expect(socket.frames[20]).toEqual({
      type: "active_users",
      users: [{ user_id: alice.id, username: "alice" }],
      count: 1,
    });
    expect(socket.frames[21]).toMatchObject({
      type: "user_joined",
      username: "alice",
      message: "alice joined the room",
    });
    await socket.close();
  });

  test("a message is stored, broadcast to everyone (sender included), then acked with its id", async () => {
    const roomId = await room("broadcast");
    const a = await join(roomId, alice);
    const b = await join(roomId, bob, { subprotocol: true });
    expect(b.ws.protocol).toBe("chat");
    const ack = await a.say("  hello bob  ", "cid-1");
    expect(ack).toEqual({ type: "ack", client_id: "cid-1", id: expect.any(Number) });
    const atA = await a.nextOfType("message");
    const atB = await b.nextOfType("message");
    expect(atA).toEqual(atB);
    expect(atB).toMatchObject({
      id: ack.id,
      content: "hello bob",
      username: "alice",
      client_id: "cid-1",
      room_id: roomId,
    });
    // Both reached the sender; Bun flushes topic publishes at the end of a loop turn, so either may come first.
    expect(a.frames.filter((f) => f.type === "message" && f.id === ack.id)).toHaveLength(1);
    const history = await t.request("GET", `/rooms/${roomId}/messages`, { token: bob.token });
    expect(history.json[0]).toMatchObject({ id: ack.id, content: "hello bob" });
    // A seed client sends no client_id: it gets the broadcast and no ack.
    a.send({ content: "seed style" });
    const seedStyle = await b.next((f) => f.type === "message" && f.content === "seed style");
    await a.next((f) => f.type === "message" && f.id === seedStyle.id);
    await Promise.all([a.close(), b.close()]);
    expect(a.ofType("ack")).toHaveLength(1);
  });

  test("HTTP posts, edits and deletes reach the room's sockets", async () => {
    const roomId = await room("http-events");
    const a = await join(roomId, alice);
    const posted = await t.request("POST", `/rooms/${roomId}/messages`, {
      token: bob.token,
      body: { content: "from a bot" },
    });
    expect(await a.nextOfType("message")).toMatchObject({ id: posted.json.id, content: "from a bot", username: "bob" });
    await t.request("PATCH", `/messages/${posted.json.id}`, { token: bob.token, body: { content: "edited" } });
    expect(await a.nextOfType("message_updated")).toMatchObject({
      id: posted.json.id,
      content: "edited",
      edited_at: expect.any(String),
    });
    await t.request("DELETE", `/messages/${posted.json.id}`, { token: bob.token });
    expect(await a.nextOfType("message_deleted")).toEqual({
      type: "message_deleted",
      id: posted.json.id,
      room_id: roomId,
    });
    await a.close();
  });

  test("a joiner whose history read is slow while more than a page arrives gets every message once, in order", async () => {
    const roomId = await room("slow-join");
    const talker = await join(roomId, alice);
    const original = t.store.listMessages;
    const gate = Promise.withResolvers<void>();
    const reading = Promise.withResolvers<void>();
    t.store.listMessages = async (...args) => {
      if (args[0] === roomId) {
        reading.resolve();
        await gate.promise;
      }
      return original.apply(t.store, args);
    };
    try {
      const socket = new TestSocket(`${base}/ws/${roomId}?token=${bob.token}`);
      sockets.push(socket);
      await reading.promise; // bob's socket is open and its history read has begun
      const acks = [];
      for (let i = 0; i < 30; i++) acks.push(await talker.say(`while bob loads #${i}`));
      gate.resolve(); // the read now returns the last 20 of the 30
      const ids = acks.map((a) => a.id as number);
      await socket.next((f) => f.type === "message" && f.id === ids.at(-1));
      expect(socket.ofType("message").map((f) => f.id)).toEqual(ids);
    } finally {
      t.store.listMessages = original;
    }
  });

  test("two tabs of one user: listed once, joined once, left only when the last tab closes", async () => {
    const roomId = await room("two-tabs");
    const b = await join(roomId, bob);
    const tab1 = await join(roomId, alice);
    await b.next((f) => f.type === "user_joined" && f.username === "alice");
    const tab2 = await join(roomId, alice);
    expect(tab2.frames.at(-1)).toMatchObject({ type: "active_users", count: 2 });
    await tab1.close();
    await tab2.say("still here");
    await tab2.close();
    const left = await b.nextOfType("user_left");
    expect(left).toMatchObject({ username: "alice", message: "alice left the room" });
    const afterLeft = await b.next((f) => f.type === "active_users" && b.frames.indexOf(f) > b.frames.indexOf(left));
    expect(afterLeft).toEqual({ type: "active_users", users: [{ user_id: bob.id, username: "bob" }], count: 1 });
    expect(b.ofType("user_joined").filter((f) => f.username === "alice")).toHaveLength(1);
    expect(b.ofType("user_left")).toHaveLength(1);
    expect(
      b.ofType("active_users").every((f) => f.users.length === new Set(f.users.map((u: any) => u.user_id)).size),
    ).toBe(true);
    await b.close();
  });

  test("a join storm: every join is announced, active_users lists are coalesced, and the last one lists everyone", async () => {
    const roomId = await room("storm");
    const watcher = await join(roomId, bob);
    const listsBefore = watcher.ofType("active_users").length;
    const crowd = await Promise.all(Array.from({ length: 30 }, (_, i) => t.user(`storm${i}`)));
    // Each join() waits until its socket got an active_users naming itself.
    await Promise.all(crowd.map((who) => join(roomId, who)));
    const everyone = ["bob", ...crowd.map((who) => who.username)].sort();
    const last = await watcher.next((f) => f.type === "active_users" && f.count === everyone.length);
    expect(last.users.map((u: any) => u.username).sort()).toEqual(everyone);
    for (const who of crowd) await watcher.next((f) => f.type === "user_joined" && f.username === who.username);
    expect(watcher.ofType("user_joined").filter((f) => f.username !== "bob")).toHaveLength(crowd.length);
    // One list per join would be 30 (O(n^2) bytes in a big room); ROSTER_WINDOW_MS allows one per 100 ms.
    expect(watcher.ofType("active_users").length - listsBefore).toBeLessThanOrEqual(15);
  });

  test("the same client_id sent twice is stored once and broadcast once, and both get the same ack", async () => {
    const roomId = await room("resend");
    const a = await join(roomId, alice);
    const b = await join(roomId, bob);
    const first = await a.say("exactly once", "dup-1");
    const second = await a.say("exactly once", "dup-1");
    expect(second.id).toBe(first.id);
    await a.say("marker", "marker-1");
    await b.next((f) => f.type === "message" && f.content === "marker");
    expect(b.ofType("message").filter((f) => f.content === "exactly once")).toHaveLength(1);
    const history = await t.request("GET", `/rooms/${roomId}/messages`, { token: bob.token });
    expect(history.json.filter((m: any) => m.content === "exactly once")).toHaveLength(1);
    await Promise.all([a.close(), b.close()]);
  });

  test("reconnecting with since gets exactly what was stored meanwhile: no gap, no duplicate", async () => {
    const roomId = await room("since");
    const a = await join(roomId, alice);
    const b = await join(roomId, bob);
    const seen = (await b.say("before the drop")).id;
    await b.close();
    const sent: number[] = [];
    for (let i = 0; i < 5; i++) sent.push((await a.say(`meanwhile ${i}`)).id);
    const back = await join(roomId, bob, { since: seen });
    const messages = back.ofType("message").map((f) => f.id);
    expect(messages).toEqual(sent);
    expect(back.frames.findIndex((f) => f.type === "sync")).toBe(5);
    expect(back.ofType("sync")).toEqual([{ type: "sync", complete: true }]);
    const live = await a.say("after reconnect");
    expect((await back.next((f) => f.type === "message" && f.id === live.id)).content).toBe("after reconnect");
    await Promise.all([a.close(), back.close()]);
  });

  test("messages sent while a socket is joining are neither lost nor doubled", async () => {
    const roomId = await room("join-race");
    const a = await join(roomId, alice);
    const sending = Array.from({ length: 30 }, (_, i) => a.say(`burst ${i}`));
    const b = await join(roomId, bob);
    const acks = await Promise.all(sending);
    const last = acks.at(-1)!.id;
    await b.next((f) => f.type === "message" && f.id === last);
    const ids = b.ofType("message").map((f) => f.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Everything after the 20-message history window arrives, in order.
    const expected = acks.map((x) => x.id).filter((id) => id >= ids[0]!);
    expect(ids).toEqual(expected);
    await Promise.all([a.close(), b.close()]);
  });

  test("bad frames get an error frame and the socket stays open; oversized frames close with 1009", async () => {
    const roomId = await room("bad-frames");
    const a = await join(roomId, alice);
    a.send("{not json");
    expect(await a.nextOfType("error")).toMatchObject({ code: "INVALID_JSON", detail: expect.any(String) });
    a.send({ type: "dance" });
    expect(await a.nextOfType("error")).toMatchObject({ code: "UNKNOWN_TYPE" });
    a.send("42");
    expect(await a.nextOfType("error")).toMatchObject({ code: "INVALID_FRAME" });
    a.send({ content: 5, client_id: "n" });
    expect(await a.nextOfType("error")).toMatchObject({ code: "INVALID_FRAME", client_id: "n" });
    expect(await a.say("   ", "blank")).toMatchObject({ type: "error", code: "CONTENT_EMPTY", client_id: "blank" });
    expect(await a.say("x".repeat(4001), "long")).toMatchObject({
      type: "error",
      code: "CONTENT_TOO_LONG",
      client_id: "long",
    });
    a.send({ content: "ok", client_id: "y".repeat(65) });
    expect(await a.nextOfType("error")).toMatchObject({ code: "INVALID_FRAME" });
    expect((await a.say("still works")).type).toBe("ack");
    a.send({ content: "z".repeat(17 * 1024) });
    expect((await a.closed).code).toBe(1009);
  });

  test("a dropped socket still produces user_left and active_users for the rest", async () => {
    const roomId = await room("drop");
    const b = await join(roomId, bob);
    const a = await join(roomId, alice);
    a.ws.close(4000, "bye"); // any close, clean or not
    expect(await b.nextOfType("user_left")).toMatchObject({ username: "alice" });
    // The list after the leave has only bob.
    const left = b.frames.findIndex((f) => f.type === "user_left");
    await b.next((f) => f.type === "active_users" && b.frames.indexOf(f) > left);
    expect(b.frames.at(-1)).toEqual({ type: "active_users", users: [{ user_id: bob.id, username: "bob" }], count: 1 });
    await b.close();
  });

  test("typing is relayed to the others, not stored, and limited to one per second", async () => {
    const roomId = await room("typing");
    const a = await join(roomId, alice);
    const b = await join(roomId, bob);
    a.send({ type: "typing" });
    a.send({ type: "typing" });
    expect(await b.nextOfType("typing")).toEqual({ type: "typing", user_id: alice.id, username: "alice" });
    await a.say("flush");
    await b.next((f) => f.type === "message" && f.content === "flush");
    expect(b.ofType("typing")).toHaveLength(1);
    expect(a.ofType("typing")).toHaveLength(0);
    expect((await t.request("GET", `/rooms/${roomId}/messages`, { token: bob.token })).json).toHaveLength(1);
    await Promise.all([a.close(), b.close()]);
  });

  test("deleting a room closes its sockets with 4404", async () => {
    const roomId = await room("doomed-live");
    const a = await join(roomId, alice);
    await t.request("DELETE", `/rooms/${roomId}`, { token: admin.token });
    expect((await a.closed).code).toBe(4404);
  });

  test("logout and role changes close the user's sockets with 1008", async () => {
    const roomId = await room("revoke");
    const carol = await t.user("carol");
    const c = await join(roomId, carol);
    await t.request("POST", "/auth/logout", { token: carol.token });
    expect((await c.closed).code).toBe(1008);
    const dave = await t.user("dave");
    const d = await join(roomId, dave);
    await t.request("PATCH", `/users/${dave.id}`, { token: admin.token, body: { role: "admin" } });
    expect((await d.closed).code).toBe(1008);
  });

  test("sockets opening while logout runs do not outlive it, and post nothing after it (raced 30 times)", async () => {
    const roomId = await room("logout-race");
    const racer = await t.user("racer");
    const login = async () =>
      (await t.request("POST", "/auth/login", { body: { username: "racer", password: racer.password } })).json
        .access_token as string;
    let opened = 0;
    for (let trial = 0; trial < 30; trial++) {
      const token = await login();
      const opening = Array.from({ length: 8 }, () => new TestSocket(`${base}/ws/${roomId}?token=${token}`));
      sockets.push(...opening);
      // A different head start each trial, so the logout lands at different points of the handshakes.
      await Bun.sleep(trial % 4);
      expect((await t.request("POST", "/auth/logout", { token })).status).toBe(204);
      const outcomes = await Promise.all(
        opening.map(async (s) => {
          const open = await s.opened.then(
            () => true,
            () => false,
          );
          if (open) {
            opened++;
            // Sent after the logout returned: refused, never stored.
            s.send({ content: "after logout", client_id: "late" });
          }
          const closed = await Promise.race([s.closed, Bun.sleep(5_000).then(() => undefined)]);
          return { open, closed: closed?.code, acked: s.ofType("ack").length };
        }),
      );
      for (const o of outcomes)
        expect(o).toEqual({ open: o.open, closed: o.open ? 1008 : expect.any(Number), acked: 0 });
    }
    console.log(
      JSON.stringify({ test: "logout race", dialect, trials: 30, socketsPerTrial: 8, openedBeforeRefusal: opened }),
    );
    const stored = (await t.request("GET", `/rooms/${roomId}/messages?limit=100`, { token: admin.token })).json;
    expect(stored).toEqual([]);
  });

  test("a message flood past the user's rate gets RATE_LIMITED errors, and accepted ones are all stored", async () => {
    const roomId = await room("flood");
    const a = await join(roomId, alice);
    const total = 1100;
    for (let i = 0; i < total; i++) a.send({ content: `flood ${i}`, client_id: `f${i}` });
    const outcomes = await Promise.all(
      Array.from({ length: total }, (_, i) =>
        a.next((f) => (f.type === "ack" || f.type === "error") && f.client_id === `f${i}`, 30_000),
      ),
    );
    const acked = outcomes.filter((f) => f.type === "ack").length;
    const limited = outcomes.filter((f) => f.type === "error" && f.code === "RATE_LIMITED").length;
    expect(acked + limited).toBe(total);
    expect(limited).toBeGreaterThan(0);
    let stored = 0;
    for (let before: number | undefined; ; ) {
      const page = await t.request("GET", `/rooms/${roomId}/messages?limit=100${before ? `&before=${before}` : ""}`, {
        token: alice.token,
      });
      stored += page.json.length;
      if (page.json.length < 100) break;
      before = page.json.at(-1).id;
    }
    expect(stored).toBe(acked);
    await a.close();
  });
});

describe(`realtime limits (${dialect})`, () => {
  test("a token that expires while connected closes the socket with 1008", async () => {
    // exp is whole seconds after a whole-second iat, so a 1 s token may live 0-1 s: on a busy machine it expired
    // before the handshake (a 1006, not a 1008). 3 s lives at least 2.
    const short = await createTestApp({ accessTokenTtlSeconds: 3 });
    short.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
    try {
      const boss = await short.user("boss", { role: "admin" });
      const roomId = (await short.request("POST", "/rooms/", { token: boss.token, body: { name: "short" } })).json.id;
      const socket = new TestSocket(`ws://127.0.0.1:${short.app.server!.port}/ws/${roomId}?token=${boss.token}`);
      expect((await socket.closed).code).toBe(1008);
    } finally {
      await short.app.stop();
      await short.dispose();
    }
  }, 15_000);

  test("an Origin outside CORS_ORIGINS is refused at the handshake", async () => {
    const strict = await createTestApp({ corsOrigins: ["https://chat.example"] });
    strict.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
    try {
      const u = await strict.user("someone");
      const url = `ws://127.0.0.1:${strict.app.server!.port}/ws/1?token=${u.token}`;
      expect(await handshakeStatus(url, { origin: "https://evil.example" })).toBe(403);
    } finally {
      await strict.app.stop();
      await strict.dispose();
    }
  });
});

describe(`history while the room changes (${dialect})`, () => {
  const newest = async (roomId: number, token = bob.token) => t.request("GET", `/rooms/${roomId}/messages`, { token });

  test("the newest page (kept in memory between changes) shows every change at once", async () => {
    const roomId = await room("fresh-pages");
    const carol = await t.user("page-reader");
    expect((await newest(roomId)).json).toEqual([]);

    const socket = await join(roomId, carol);
    const ack = await socket.say("over the socket", "fresh-1");
    expect((await newest(roomId)).json.map((m: any) => m.id)).toEqual([ack.id]);
    const posted = (
      await t.request("POST", `/rooms/${roomId}/messages`, { token: bob.token, body: { content: "over HTTP" } })
    ).json;
    expect((await newest(roomId)).json.map((m: any) => m.content)).toEqual(["over HTTP", "over the socket"]);
    // Another limit is its own page, filled and dropped with the rest.
    expect(
      (await t.request("GET", `/rooms/${roomId}/messages?limit=1`, { token: bob.token })).json.map((m: any) => m.id),
    ).toEqual([posted.id]);

    await t.request("PATCH", `/messages/${ack.id}`, { token: carol.token, body: { content: "edited" } });
    expect((await newest(roomId)).json.find((m: any) => m.id === ack.id).content).toBe("edited");
    await t.request("DELETE", `/messages/${posted.id}`, { token: bob.token });
    expect((await newest(roomId)).json.map((m: any) => m.id)).toEqual([ack.id]);
    expect(
      (await t.request("GET", `/rooms/${roomId}/messages?limit=1`, { token: bob.token })).json.map((m: any) => m.id),
    ).toEqual([ack.id]);

    // Pages carry the author's role: a role change shows in them.
    await t.request("PATCH", `/users/${carol.id}`, { token: admin.token, body: { role: "admin" } });
    expect((await newest(roomId)).json[0].user.role).toBe("admin");
    await t.request("DELETE", `/rooms/${roomId}`, { token: admin.token });
    expect((await newest(roomId)).status).toBe(404);
  });

  test("a token stops working at once after logout, even though its user was just read", async () => {
    const dave = await t.user("quick-leaver");
    expect((await t.request("GET", "/auth/me", { token: dave.token })).status).toBe(200);
    expect((await t.request("POST", "/auth/logout", { token: dave.token })).status).toBe(204);
    expect((await t.request("GET", "/auth/me", { token: dave.token })).status).toBe(401);
  });
});
