// The person socket, GET /ws: the same handshake as a room's, counted in the same cap; it tells a person about
// rooms that appear or go for them (and only those), their read positions, and activity in rooms they can read,
// on one instance and across instances.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { account, call, useCluster } from "./process.ts";
import { createTestApp, dialect, postgresOnly, type TestApp } from "./support.ts";
import { handshakeStatus, TestSocket, type Frame } from "./ws-client.ts";

type Account = Awaited<ReturnType<TestApp["user"]>>;
let t: TestApp;
let admin: Account;
let alice: Account;
let bob: Account;
let carol: Account;
const sockets: TestSocket[] = [];
const SOCKETS_PER_USER = 3;

beforeAll(async () => {
  t = await createTestApp({ limits: { socketsPerUser: SOCKETS_PER_USER } });
  t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
  admin = await t.user("admin", { role: "admin" });
  alice = await t.user("alice");
  bob = await t.user("bob");
  carol = await t.user("carol");
});
afterAll(async () => {
  for (const s of sockets) s.ws.close();
  await t.app.stop(true);
  await t.dispose();
});

const base = () => `ws://127.0.0.1:${t.app.server!.port}`;
async function watch(who: { token: string }, url = base()): Promise<TestSocket> {
  const socket = new TestSocket(`${url}/ws`, ["chat", `bearer.${who.token}`]);
  sockets.push(socket);
  await socket.opened;
  await socket.nextOfType("ready");
  return socket;
}
const post = (path: string, who: { token: string }, body: unknown) =>
  t.request("POST", path, { token: who.token, body });
const isAbout = (type: string, roomId: number) => (f: Frame) => f.type === type && (f.room_id ?? f.room?.id) === roomId;

describe(`person socket (${dialect})`, () => {
  test("refused like a room socket: no token or a bad one 401, plain GET 426; counted in the per-user cap", async () => {
    expect(await handshakeStatus(`${base()}/ws`)).toBe(401);
    expect(await handshakeStatus(`${base()}/ws?token=not-a-token`)).toBe(401);
    expect((await fetch(`http://127.0.0.1:${t.app.server!.port}/ws?token=${carol.token}`)).status).toBe(426);
    const open = [await watch(carol), await watch(carol)];
    const room = (await post("/rooms/", carol, { name: "cap", visibility: "private" })).json.id;
    const roomSocket = new TestSocket(`${base()}/ws/${room}?token=${carol.token}`);
    sockets.push(roomSocket);
    await roomSocket.opened;
    expect(await handshakeStatus(`${base()}/ws?token=${carol.token}`)).toBe(429);
    await open[0]!.close();
    const freed = await watch(carol); // a place was freed
    await Promise.all([open[1]!.close(), freed.close(), roomSocket.close()]);
  });

  test("a public room created appears for everyone; a private one only for its owner; deletion removes it", async () => {
    const [a, b] = [await watch(alice), await watch(bob)];
    const lobby = (await post("/rooms/", admin, { name: "lobby-live" })).json.id;
    for (const s of [a, b]) {
      expect((await s.next(isAbout("room_added", lobby))).room).toMatchObject({
        id: lobby,
        name: "lobby-live",
        visibility: "public",
        kind: "room",
      });
    }
    const secret = (await post("/rooms/", alice, { name: "secret", visibility: "private" })).json.id;
    expect((await a.next(isAbout("room_added", secret))).room).toMatchObject({
      name: "secret",
      visibility: "private",
      member_count: 1,
    });

    expect((await t.request("DELETE", `/rooms/${lobby}`, { token: admin.token })).status).toBe(204);
    for (const s of [a, b])
      expect(await s.next(isAbout("room_removed", lobby))).toEqual({
        type: "room_removed",
        room_id: lobby,
        reason: "deleted",
      });
    // bob heard nothing of alice's private room, before or at its deletion.
    expect((await t.request("DELETE", `/rooms/${secret}`, { token: alice.token })).status).toBe(204);
    await a.next(isAbout("room_removed", secret));
    expect(b.frames.some((f) => (f.room_id ?? f.room?.id) === secret)).toBe(false);
  });

  test("added to a private room, a new DM: it appears; removed: it goes, and its activity stops reaching you", async () => {
    const b = await watch(bob);
    const team = (await post("/rooms/", alice, { name: "team-live", visibility: "private" })).json.id;
    await post(`/rooms/${team}/members`, alice, { username: "bob" });
    expect((await b.next(isAbout("room_added", team))).room).toMatchObject({
      id: team,
      name: "team-live",
      member_count: 2,
    });

    const said = (await post(`/rooms/${team}/messages`, alice, { content: "hello team" })).json.id;
    const activity = await b.next(isAbout("room_activity", team));
    expect(activity).toEqual({
      type: "room_activity",
      room_id: team,
      messages: [{ id: said, user_id: alice.id }],
      last_message: {
        id: said,
        user_id: alice.id,
        username: "alice",
        content: "hello team",
        timestamp: expect.any(String),
      },
    });

    const dm = await post("/dms", alice, { username: "bob" });
    expect((await b.next(isAbout("room_added", dm.json.id))).room).toMatchObject({ kind: "direct", name: "alice" });

    expect((await t.request("DELETE", `/rooms/${team}/members/${bob.id}`, { token: alice.token })).status).toBe(204);
    expect(await b.next(isAbout("room_removed", team))).toEqual({
      type: "room_removed",
      room_id: team,
      reason: "removed",
    });
    await post(`/rooms/${team}/messages`, alice, { content: "after bob left" });
    // A message bob may see comes after it: had the team's arrived, it would be first.
    const later = (await post(`/rooms/${dm.json.id}/messages`, alice, { content: "still here" })).json.id;
    await b.next((f) => f.type === "room_activity" && f.last_message.id === later);
    expect(b.frames.filter(isAbout("room_activity", team))).toHaveLength(1);
  });

  test("read positions reach every tab's person socket; frames sent to it are refused", async () => {
    const room = (await post("/rooms/", alice, { name: "reads-live", visibility: "private" })).json.id;
    const id = (await post(`/rooms/${room}/messages`, alice, { content: "read me" })).json.id;
    const a = await watch(alice);
    expect((await post(`/rooms/${room}/read`, alice, { message_id: id })).status).toBe(204);
    expect(await a.next((f) => f.type === "read")).toEqual({ type: "read", room_id: room, message_id: id });
    a.send({ type: "read", message_id: id });
    expect(await a.nextOfType("error")).toMatchObject({ code: "UNKNOWN_TYPE" });
  });

  test("activity frames name every message, one frame per room and commit", async () => {
    const room = (await post("/rooms/", alice, { name: "burst-live", visibility: "private" })).json.id;
    await post(`/rooms/${room}/members`, alice, { username: "carol" });
    const c = await watch(carol);
    const ids = await Promise.all(
      [1, 2, 3, 4, 5].map(
        async (n) => (await post(`/rooms/${room}/messages`, alice, { content: `m${n}` })).json.id as number,
      ),
    );
    const newest = Math.max(...ids);
    await c.next((f) => f.type === "room_activity" && f.last_message.id === newest);
    const seen = c.frames
      .filter(isAbout("room_activity", room))
      .flatMap((f) => f.messages.map((m: { id: number }) => m.id));
    expect(seen.sort((x: number, y: number) => x - y)).toEqual([...ids].sort((x, y) => x - y));
  });

  test("a revoked token (logout) closes the person socket with 1008", async () => {
    const dave = await t.user("dave");
    const d = await watch(dave);
    expect((await t.request("POST", "/auth/logout", { token: dave.token })).status).toBe(204);
    expect((await d.closed).code).toBe(1008);
  });
});

describe.skipIf(dialect !== "postgres")(postgresOnly("person sockets on several instances"), () => {
  const cluster = useCluster(2);

  test("rooms made, joined, left and talked in on one instance reach person sockets on the other", async () => {
    const [one, two] = [cluster.servers[0]!, cluster.servers[1]!];
    const boss = await account(one.url, "boss", "admin");
    const owner = await account(one.url, "owner");
    const guest = await account(one.url, "guest");
    const watcher = await watch(guest, `ws://127.0.0.1:${two.port}`);

    const hall = (await call(one.url, "POST", "/rooms/", { name: "hall" }, boss.token)).json.id;
    expect((await watcher.next(isAbout("room_added", hall))).room).toMatchObject({ name: "hall" });
    const den = (await call(one.url, "POST", "/rooms/", { name: "den", visibility: "private" }, owner.token)).json.id;
    await call(one.url, "POST", `/rooms/${den}/members`, { username: "guest" }, owner.token);
    expect((await watcher.next(isAbout("room_added", den))).room).toMatchObject({ name: "den" });
    const id = (await call(one.url, "POST", `/rooms/${den}/messages`, { content: "over here" }, owner.token)).json.id;
    expect((await watcher.next(isAbout("room_activity", den))).last_message).toMatchObject({
      id,
      content: "over here",
    });
    await call(one.url, "POST", `/rooms/${den}/read`, { message_id: id }, guest.token);
    expect(await watcher.next((f) => f.type === "read")).toEqual({ type: "read", room_id: den, message_id: id });
    const me = (await call(one.url, "GET", "/auth/me", undefined, guest.token)).json;
    await call(one.url, "DELETE", `/rooms/${den}/members/${me.id}`, undefined, owner.token);
    expect(await watcher.next(isAbout("room_removed", den))).toMatchObject({ reason: "removed" });
    await call(one.url, "DELETE", `/rooms/${hall}`, undefined, boss.token);
    expect(await watcher.next(isAbout("room_removed", hall))).toMatchObject({ reason: "deleted" });
  }, 30_000);

  test("an instance whose bus listener was away closes its person sockets with 1013, so clients read afresh", async () => {
    const two = cluster.servers[1]!;
    const someone = await account(cluster.servers[0]!.url, "someone");
    const watcher = await watch(someone, `ws://127.0.0.1:${two.port}`);
    const pg = postgres(cluster.scratchUrl, { max: 1, onnotice: () => {} });
    try {
      await pg`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'chat-bus' AND datname = current_database()`;
      expect((await watcher.closed).code).toBe(1013);
      await watch(someone, `ws://127.0.0.1:${two.port}`);
    } finally {
      await pg.end();
    }
  }, 30_000);
});
