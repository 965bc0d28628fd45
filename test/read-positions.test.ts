// Read positions and unread counts: forward only, others' messages only, capped, private rooms counted from the
// start, the same in every tab (and on every instance), coalesced bursts, gone with a removed member.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { UNREAD_CAP } from "../src/store/store.ts";
import { account, call, useCluster } from "./process.ts";
import { createTestApp, dialect, postgresOnly, type TestApp } from "./support.ts";
import { TestSocket } from "./ws-client.ts";

type Account = Awaited<ReturnType<TestApp["user"]>>;
let t: TestApp;
let admin: Account;
let alice: Account;
let bob: Account;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  // Tests post in bursts: the per-user message rate is raised (test/hostile-limits.test.ts checks the default).
  t = await createTestApp({ limits: { messagesPerSecond: 1000, messageBurst: 1000 } });
  t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
  admin = await t.user("admin", { role: "admin" });
  alice = await t.user("alice");
  bob = await t.user("bob");
});
afterAll(async () => {
  for (const s of sockets) s.ws.close();
  await t.app.stop(true);
  await t.dispose();
});

const publicRoom = async (name: string) =>
  (await t.request("POST", "/rooms/", { token: admin.token, body: { name } })).json.id as number;
const say = async (roomId: number, who: Account, content: string) =>
  (await t.request("POST", `/rooms/${roomId}/messages`, { token: who.token, body: { content } })).json.id as number;
const read = (roomId: number, who: Account, messageId: unknown) =>
  t.request("POST", `/rooms/${roomId}/read`, { token: who.token, body: { message_id: messageId } });
async function listed(roomId: number, who: Account) {
  const rooms = (await t.request("GET", "/rooms/", { token: who.token })).json;
  return rooms.find((r: { id: number }) => r.id === roomId);
}
async function join(roomId: number, who: Account, port = t.app.server!.port) {
  const socket = new TestSocket(`ws://127.0.0.1:${port}/ws/${roomId}?token=${who.token}`);
  sockets.push(socket);
  await socket.opened;
  await socket.next((f) => f.type === "active_users" && f.users.some((u: any) => u.username === who.username));
  return socket;
}

describe(`read positions (${dialect})`, () => {
  test("a public room never read has no position and no count; reading moves forward only, up to the newest", async () => {
    const room = await publicRoom("forward");
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await say(room, alice, `m${i}`));
    expect(await listed(room, bob)).toMatchObject({ last_read_id: null, unread_count: null, unread_capped: false });
    expect((await read(room, bob, ids[2])).status).toBe(204);
    expect(await listed(room, bob)).toMatchObject({ last_read_id: ids[2], unread_count: 2 });
    expect((await read(room, bob, ids[0])).status).toBe(204); // older: changes nothing
    expect((await listed(room, bob)).last_read_id).toBe(ids[2]);
    expect((await read(room, bob, 2_000_000_000)).status).toBe(204); // past the newest: stops there
    expect(await listed(room, bob)).toMatchObject({ last_read_id: ids[4], unread_count: 0 });
    const last = (await listed(room, bob)).last_message;
    expect(last).toEqual({
      id: ids[4],
      user_id: alice.id,
      username: "alice",
      content: "m4",
      timestamp: expect.any(String),
    });
  });

  test("counts leave out your own and deleted messages", async () => {
    const room = await publicRoom("others only");
    const start = await say(room, alice, "start");
    await read(room, bob, start);
    const a1 = await say(room, alice, "a1");
    await say(room, bob, "b1");
    await say(room, alice, "a2");
    expect((await listed(room, bob)).unread_count).toBe(2);
    expect((await t.request("DELETE", `/messages/${a1}`, { token: alice.token })).status).toBe(204);
    expect((await listed(room, bob)).unread_count).toBe(1);
  });

  test(`exact up to ${UNREAD_CAP}, then ${UNREAD_CAP} and capped`, async () => {
    const room = await publicRoom("busy");
    const start = await say(room, alice, "start");
    await read(room, bob, start);
    // In batches of 100, as the message writer sends them (a batch's notification must stay under 8,000 bytes).
    const batch = async (n: number) => {
      for (let done = 0; done < n; done += 100) {
        const size = Math.min(100, n - done);
        await t.store.insertMessages(
          Array.from({ length: size }, (_, i) => ({
            roomId: room,
            userId: alice.id,
            content: `bulk ${done + i}`,
            clientId: null,
            createdAt: new Date(),
          })),
        );
      }
    };
    await batch(UNREAD_CAP);
    expect(await listed(room, bob)).toMatchObject({ unread_count: UNREAD_CAP, unread_capped: false });
    await batch(1);
    expect(await listed(room, bob)).toMatchObject({ unread_count: UNREAD_CAP, unread_capped: true });
  });

  test("in a private or direct room you belong to, everything counts until you read", async () => {
    const room = (
      await t.request("POST", "/rooms/", { token: alice.token, body: { name: "ours", visibility: "private" } })
    ).json.id;
    await t.request("POST", `/rooms/${room}/members`, { token: alice.token, body: { username: "bob" } });
    await say(room, alice, "one");
    await say(room, alice, "two");
    expect(await listed(room, bob)).toMatchObject({ last_read_id: null, unread_count: 2 });
    const dm = (await t.request("POST", "/dms", { token: alice.token, body: { username: "bob" } })).json.id;
    expect(await listed(dm, bob)).toMatchObject({ last_read_id: null, unread_count: 0, last_message: null });
    await say(dm, alice, "psst");
    expect((await listed(dm, bob)).unread_count).toBe(1);
  });

  test("an admin's ?all=true list counts their own private rooms from the start, and others' only once read", async () => {
    const theirs = (
      await t.request("POST", "/rooms/", {
        token: alice.token,
        body: { name: "not the admin's", visibility: "private" },
      })
    ).json.id;
    const own = (
      await t.request("POST", "/rooms/", { token: admin.token, body: { name: "the admin's", visibility: "private" } })
    ).json.id;
    await say(theirs, alice, "hidden");
    await t.request("POST", `/rooms/${own}/members`, { token: admin.token, body: { username: "alice" } });
    await say(own, alice, "for the admin");
    const all = (await t.request("GET", "/rooms/?all=true", { token: admin.token })).json;
    expect(all.find((r: { id: number }) => r.id === own)).toMatchObject({ unread_count: 1 });
    expect(all.find((r: { id: number }) => r.id === theirs)).toMatchObject({ unread_count: null, member_count: 1 });
  });

  test("a room you cannot read cannot be marked; bad ids are 422", async () => {
    const room = (
      await t.request("POST", "/rooms/", { token: alice.token, body: { name: "hers", visibility: "private" } })
    ).json.id;
    const id = await say(room, alice, "secret");
    expect((await read(room, bob, id)).status).toBe(404);
    for (const bad of [0, -1, 1.5, null, "one"]) expect((await read(room, alice, bad)).status).toBe(422);
  });

  test("a removed member's position is gone", async () => {
    const room = (
      await t.request("POST", "/rooms/", { token: alice.token, body: { name: "revolving", visibility: "private" } })
    ).json.id;
    await t.request("POST", `/rooms/${room}/members`, { token: alice.token, body: { username: "bob" } });
    const id = await say(room, alice, "hello");
    await read(room, bob, id);
    expect((await listed(room, bob)).last_read_id).toBe(id);
    expect((await t.request("DELETE", `/rooms/${room}/members/${bob.id}`, { token: alice.token })).status).toBe(204);
    await t.request("POST", `/rooms/${room}/members`, { token: alice.token, body: { username: "bob" } });
    expect(await listed(room, bob)).toMatchObject({ last_read_id: null, unread_count: 1 });
  });

  test("a read frame moves the position and every other socket of the user hears it, not the sender", async () => {
    const room = await publicRoom("tabs");
    const other = await publicRoom("elsewhere");
    const id = await say(room, alice, "news");
    const tab1 = await join(room, bob);
    const tab2 = await join(other, bob);
    const stranger = await join(room, alice);
    tab1.ws.send(JSON.stringify({ type: "read", message_id: id }));
    expect(await tab2.next((f) => f.type === "read")).toEqual({ type: "read", room_id: room, message_id: id });
    expect((await listed(room, bob)).last_read_id).toBe(id);
    // HTTP tells every socket of the user.
    const next = await say(room, alice, "more");
    expect((await read(room, bob, next)).status).toBe(204);
    expect(await tab1.next((f) => f.type === "read")).toEqual({ type: "read", room_id: room, message_id: next });
    await tab2.next((f) => f.type === "read" && f.message_id === next);
    expect(stranger.ofType("read")).toEqual([]);
    tab1.ws.send(JSON.stringify({ type: "read", message_id: "soon" }));
    expect(await tab1.next((f) => f.type === "error")).toMatchObject({ code: "INVALID_FRAME" });
  });

  test("a burst of read frames is written once at once and once more within the interval, the newest winning", async () => {
    const room = await publicRoom("burst");
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) ids.push(await say(room, alice, `b${i}`));
    const sender = await join(room, bob);
    const watcher = await join(room, bob);
    for (const id of ids) sender.ws.send(JSON.stringify({ type: "read", message_id: id }));
    await watcher.next((f) => f.type === "read" && f.message_id === ids.at(-1), 5_000);
    expect(watcher.ofType("read").map((f) => f.message_id)).toEqual([ids[0], ids.at(-1)]);
    expect((await listed(room, bob)).last_read_id).toBe(ids.at(-1));
  });
});

describe.skipIf(dialect !== "postgres")(postgresOnly("read positions on several instances"), () => {
  const cluster = useCluster(2);

  test("two sockets of one user on two instances agree", async () => {
    const [one, two] = [cluster.servers[0]!, cluster.servers[1]!];
    const boss = await account(one.url, "boss", "admin");
    const reader = await account(one.url, "reader");
    const room = (await call(one.url, "POST", "/rooms/", { name: "shared" }, boss.token)).json.id;
    const id = (await call(one.url, "POST", `/rooms/${room}/messages`, { content: "hello" }, boss.token)).json.id;
    const tab1 = await join(room, { ...reader, id: 0 } as never, one.port);
    const tab2 = await join(room, { ...reader, id: 0 } as never, two.port);
    tab1.ws.send(JSON.stringify({ type: "read", message_id: id }));
    expect(await tab2.next((f) => f.type === "read")).toEqual({ type: "read", room_id: room, message_id: id });
    const rooms = (await call(two.url, "GET", "/rooms/", undefined, reader.token)).json;
    expect(rooms.find((r: { id: number }) => r.id === room).last_read_id).toBe(id);
  }, 30_000);
});
