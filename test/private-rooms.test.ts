// Private rooms and direct rooms: who may do what, as a table of every route and the socket for anonymous,
// stranger, member, owner and admin on public, private and direct rooms; membership rules; removal closing
// sockets (4403) here and on another instance.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CLOSE } from "../src/realtime/protocol.ts";
import { account, call, useCluster } from "./process.ts";
import { createTestApp, dialect, postgresOnly, type TestApp } from "./support.ts";
import { handshakeStatus, TestSocket } from "./ws-client.ts";

type Account = Awaited<ReturnType<TestApp["user"]>>;
type Who = "anonymous" | "stranger" | "member" | "owner" | "admin";

let t: TestApp;
let base: string;
const people = {} as Record<Exclude<Who, "anonymous">, Account>;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  // Tests post in bursts: the per-user message rate is raised (test/hostile-limits.test.ts checks the default).
  t = await createTestApp({ limits: { messagesPerSecond: 1000, messageBurst: 1000 } });
  t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
  base = `127.0.0.1:${t.app.server!.port}`;
  people.admin = await t.user("admin", { role: "admin" });
  for (const who of ["owner", "member", "stranger"] as const) people[who] = await t.user(who);
});
afterAll(async () => {
  for (const s of sockets) s.ws.close();
  await t.app.stop(true);
  await t.dispose();
});

const as = (who: Who) => (who === "anonymous" ? undefined : people[who].token);
const call_ = (who: Who, method: string, path: string, body?: unknown) =>
  t.request(method, path, { token: as(who), body });

async function privateRoom(name: string): Promise<number> {
  const made = await call_("owner", "POST", "/rooms/", { name, visibility: "private" });
  expect(made.status).toBe(201);
  expect((await call_("owner", "POST", `/rooms/${made.json.id}/members`, { username: "member" })).status).toBe(201);
  return made.json.id;
}

async function join(roomId: number, who: Account) {
  const socket = new TestSocket(`ws://${base}/ws/${roomId}?token=${who.token}`);
  sockets.push(socket);
  await socket.opened;
  await socket.next((f) => f.type === "active_users" && f.users.some((u: any) => u.username === who.username));
  return socket;
}

describe(`private rooms: the authorization table (${dialect})`, () => {
  const WHO: Who[] = ["anonymous", "stranger", "member", "owner", "admin"];

  /** Each row: what it does, then the status each of WHO gets, on a fresh private room (so deletes do not interfere). */
  const rows: [string, (who: Who, room: number, messageId: number) => Promise<number>, number[]][] = [
    [
      "GET /rooms/{id}",
      async (who, room) => (await call_(who, "GET", `/rooms/${room}`)).status,
      [401, 404, 200, 200, 404],
    ],
    [
      "GET /rooms/{id}/messages",
      async (who, room) => (await call_(who, "GET", `/rooms/${room}/messages`)).status,
      [401, 404, 200, 200, 404],
    ],
    [
      "POST /rooms/{id}/messages",
      async (who, room) => (await call_(who, "POST", `/rooms/${room}/messages`, { content: "hi" })).status,
      [401, 404, 201, 201, 404],
    ],
    [
      "GET /rooms/{id}/members",
      async (who, room) => (await call_(who, "GET", `/rooms/${room}/members`)).status,
      [401, 404, 200, 200, 404],
    ],
    [
      "POST /rooms/{id}/members",
      async (who, room) => (await call_(who, "POST", `/rooms/${room}/members`, { username: "stranger" })).status,
      [401, 404, 403, 201, 201],
    ],
    [
      "DELETE /rooms/{id}/members/{member}",
      async (who, room) => (await call_(who, "DELETE", `/rooms/${room}/members/${people.member.id}`)).status,
      [401, 404, 204, 204, 204],
    ],
    [
      "DELETE /rooms/{id}/members/{owner}",
      async (who, room) => (await call_(who, "DELETE", `/rooms/${room}/members/${people.owner.id}`)).status,
      [401, 404, 403, 204, 204],
    ],
    [
      "PATCH /messages/{member's}",
      async (who, _, id) => (await call_(who, "PATCH", `/messages/${id}`, { content: "edited" })).status,
      [401, 404, 200, 403, 404],
    ],
    [
      "DELETE /messages/{member's}",
      async (who, _, id) => (await call_(who, "DELETE", `/messages/${id}`)).status,
      [401, 404, 204, 403, 404],
    ],
    [
      "DELETE /rooms/{id}",
      async (who, room) => (await call_(who, "DELETE", `/rooms/${room}`)).status,
      [401, 404, 403, 204, 204],
    ],
    [
      "WS /ws/{id}",
      (who, room) => handshakeStatus(`ws://${base}/ws/${room}${who === "anonymous" ? "" : `?token=${as(who)}`}`),
      [401, 404, 101, 101, 404],
    ],
  ];

  for (const [route, run, expected] of rows) {
    test(route, async () => {
      const got: number[] = [];
      for (const who of WHO) {
        const room = await privateRoom(`table ${route} ${who}`);
        const message = await call_("member", "POST", `/rooms/${room}/messages`, { content: "the member's" });
        got.push(await run(who, room, message.json.id));
      }
      expect(got).toEqual(expected);
    });
  }

  test("a stranger gets the same answer for a private room as for no room at all, everywhere", async () => {
    const room = await privateRoom("indistinguishable");
    const missing = 999_999;
    for (const path of ["", "/messages", "/members"]) {
      const [hidden, absent] = await Promise.all([
        call_("stranger", "GET", `/rooms/${room}${path}`),
        call_("stranger", "GET", `/rooms/${missing}${path}`),
      ]);
      expect([hidden.status, hidden.json]).toEqual([absent.status, absent.json]);
    }
    const [hidden, absent] = await Promise.all([
      call_("stranger", "POST", `/rooms/${room}/members`, { username: "stranger" }),
      call_("stranger", "POST", `/rooms/${missing}/members`, { username: "stranger" }),
    ]);
    expect([hidden.status, hidden.json]).toEqual([absent.status, absent.json]);
    // Taking its name as a public room tells nothing either: private names are not in the public namespace.
    expect((await call_("admin", "POST", "/rooms/", { name: "indistinguishable" })).status).toBe(201);
  });

  test("public rooms: members routes answer 409 ROOM_IS_PUBLIC; public rooms stay admin-only to create", async () => {
    const room = (await call_("admin", "POST", "/rooms/", { name: "town square" })).json;
    expect([room.visibility, room.kind, room.member_count]).toEqual(["public", "room", null]);
    for (const who of ["stranger", "admin"] as const) {
      const members = await call_(who, "GET", `/rooms/${room.id}/members`);
      expect([members.status, members.json.code]).toEqual([409, "ROOM_IS_PUBLIC"]);
      const add = await call_(who, "POST", `/rooms/${room.id}/members`, { username: "member" });
      expect([add.status, add.json.code]).toEqual([409, "ROOM_IS_PUBLIC"]);
    }
    expect((await call_("stranger", "POST", "/rooms/", { name: "mine", visibility: "public" })).status).toBe(403);
    expect((await call_("stranger", "POST", "/rooms/", { name: "mine" })).status).toBe(403);
  });

  test("GET /rooms/ lists public rooms and your own; ?all=true is every room, for admins only", async () => {
    const room = await privateRoom("listed");
    const names = async (who: Who, query = "") =>
      (await call_(who, "GET", `/rooms/${query}`)).json.map((r: { id: number }) => r.id);
    expect(await names("member")).toContain(room);
    expect(await names("owner")).toContain(room);
    expect(await names("stranger")).not.toContain(room);
    expect(await names("admin")).not.toContain(room);
    expect(await names("admin", "?all=true")).toContain(room);
    expect((await call_("stranger", "GET", "/rooms/?all=true")).status).toBe(403);
    const listed = (await call_("member", "GET", "/rooms/")).json.find((r: { id: number }) => r.id === room);
    expect(listed).toMatchObject({ name: "listed", visibility: "private", kind: "room", member_count: 2 });
  });
});

describe(`members (${dialect})`, () => {
  test("adding twice is 200 with the same member; an unknown username is 404", async () => {
    const room = await privateRoom("twice");
    const again = await call_("owner", "POST", `/rooms/${room}/members`, { username: "member" });
    expect([again.status, again.json.username, again.json.role]).toEqual([200, "member", "member"]);
    expect((await call_("owner", "POST", `/rooms/${room}/members`, { username: "nobody-by-that-name" })).status).toBe(
      404,
    );
    const list = (await call_("member", "GET", `/rooms/${room}/members`)).json;
    expect(list.map((m: { username: string; role: string }) => [m.username, m.role])).toEqual([
      ["owner", "owner"],
      ["member", "member"],
    ]);
  });

  test("the last owner leaving makes the longest-standing member owner; the last member leaving deletes the room", async () => {
    const room = await privateRoom("succession");
    expect((await call_("owner", "POST", `/rooms/${room}/members`, { username: "stranger" })).status).toBe(201);
    expect((await call_("owner", "DELETE", `/rooms/${room}/members/${people.owner.id}`)).status).toBe(204);
    const members = (await call_("member", "GET", `/rooms/${room}/members`)).json;
    expect(members.map((m: { username: string; role: string }) => [m.username, m.role])).toEqual([
      ["member", "owner"],
      ["stranger", "member"],
    ]);
    expect((await call_("owner", "GET", `/rooms/${room}`)).status).toBe(404);
    expect((await call_("stranger", "DELETE", `/rooms/${room}/members/${people.stranger.id}`)).status).toBe(204);
    expect((await call_("member", "DELETE", `/rooms/${room}/members/${people.member.id}`)).status).toBe(204);
    expect(await t.store.findRoom(room)).toBeUndefined();
  });

  test("concurrent removals of everyone leave no room and no orphan (5 trials)", async () => {
    for (let trial = 0; trial < 5; trial++) {
      const room = await privateRoom(`race ${trial}`);
      const answers = await Promise.all([
        call_("owner", "DELETE", `/rooms/${room}/members/${people.owner.id}`),
        call_("member", "DELETE", `/rooms/${room}/members/${people.member.id}`),
      ]);
      expect(answers.map((a) => a.status)).toEqual([204, 204]);
      expect(await t.store.findRoom(room)).toBeUndefined();
    }
  });

  test("a removed member's sockets close with 4403 after member_removed, and get nothing more", async () => {
    const room = await privateRoom("eviction");
    const owner = await join(room, people.owner);
    const member = await join(room, people.member);
    const added = await owner.next((f) => f.type === "member_added" || f.type === "user_joined");
    expect(added).toBeDefined();
    expect((await call_("owner", "DELETE", `/rooms/${room}/members/${people.member.id}`)).status).toBe(204);
    expect(await member.next((f) => f.type === "member_removed")).toMatchObject({
      user_id: people.member.id,
      username: "member",
    });
    expect((await member.closed).code).toBe(CLOSE.REMOVED_FROM_ROOM);
    await owner.next((f) => f.type === "member_removed" && f.user_id === people.member.id);
    const after = await owner.say("after the eviction");
    await owner.next((f) => f.type === "message" && f.id === after.id);
    expect(member.ofType("message").some((f) => f.content === "after the eviction")).toBe(false);
    expect((await call_("member", "GET", `/rooms/${room}/messages`)).status).toBe(404);
    expect(await handshakeStatus(`ws://${base}/ws/${room}?token=${people.member.token}`)).toBe(404);
  });

  test("member_added reaches the room", async () => {
    const room = await privateRoom("welcome");
    const owner = await join(room, people.owner);
    expect((await call_("owner", "POST", `/rooms/${room}/members`, { username: "stranger" })).status).toBe(201);
    expect(await owner.next((f) => f.type === "member_added")).toMatchObject({
      user_id: people.stranger.id,
      username: "stranger",
    });
  });
});

describe(`direct rooms (${dialect})`, () => {
  test("one per pair whoever asks, named after the other person, two members, no owner, no new members", async () => {
    const first = await call_("member", "POST", "/dms", { username: "owner" });
    expect([first.status, first.json.kind, first.json.visibility, first.json.name, first.json.member_count]).toEqual([
      201,
      "direct",
      "private",
      "owner",
      2,
    ]);
    const second = await call_("owner", "POST", "/dms", { username: "MEMBER" });
    expect([second.status, second.json.id, second.json.name]).toEqual([200, first.json.id, "member"]);
    const room = first.json.id;
    const members = (await call_("owner", "GET", `/rooms/${room}/members`)).json;
    expect(members.map((m: { role: string }) => m.role)).toEqual(["member", "member"]);
    const add = await call_("owner", "POST", `/rooms/${room}/members`, { username: "stranger" });
    expect([add.status, add.json.code]).toEqual([409, "ROOM_IS_DIRECT"]);
    const adminAdd = await call_("admin", "POST", `/rooms/${room}/members`, { username: "admin" });
    expect([adminAdd.status, adminAdd.json.code]).toEqual([409, "ROOM_IS_DIRECT"]);
    for (const who of ["stranger", "admin"] as const) {
      expect((await call_(who, "GET", `/rooms/${room}`)).status).toBe(404);
      expect((await call_(who, "GET", `/rooms/${room}/messages`)).status).toBe(404);
    }
    expect((await call_("member", "POST", `/rooms/${room}/messages`, { content: "just us" })).status).toBe(201);
    // The pair's direct room takes no name from the public namespace.
    expect((await call_("admin", "POST", "/rooms/", { name: "owner" })).status).toBe(201);
    const all = (await call_("admin", "GET", "/rooms/?all=true")).json.find((r: { id: number }) => r.id === room);
    expect(all.name).toBe("owner, member"); // an admin outside it sees both names
    expect((await call_("member", "DELETE", `/rooms/${room}`)).status).toBe(403);
  });

  test("with yourself it is 422; with nobody 404; concurrent calls make one room", async () => {
    const self = await call_("member", "POST", "/dms", { username: "member" });
    expect([self.status, self.json.code]).toEqual([422, "DIRECT_WITH_SELF"]);
    expect((await call_("member", "POST", "/dms", { username: "nobody-by-that-name" })).status).toBe(404);
    const pair = await t.user("pair-one");
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        i % 2 === 0
          ? call_("stranger", "POST", "/dms", { username: "pair-one" })
          : t.request("POST", "/dms", { token: pair.token, body: { username: "stranger" } }),
      ),
    );
    expect(new Set(answers.map((a) => a.json.id)).size).toBe(1);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
  });
});

describe.skipIf(dialect !== "postgres")(postgresOnly("private rooms on several instances"), () => {
  const cluster = useCluster(2);

  test("a removal on one instance closes the member's socket on the other, and their next request there is 404", async () => {
    const [one, two] = [cluster.servers[0]!, cluster.servers[1]!];
    const owner = await account(one.url, "cluster-owner");
    const member = await account(one.url, "cluster-member");
    const memberId = (await call(one.url, "GET", "/auth/me", undefined, member.token)).json.id;
    const room = (await call(one.url, "POST", "/rooms/", { name: "across", visibility: "private" }, owner.token)).json
      .id;
    expect(
      (await call(one.url, "POST", `/rooms/${room}/members`, { username: "cluster-member" }, owner.token)).status,
    ).toBe(201);
    // Read once on the second instance, so it has the membership cached.
    expect((await call(two.url, "GET", `/rooms/${room}/messages`, undefined, member.token)).status).toBe(200);
    const socket = new TestSocket(`ws://127.0.0.1:${two.port}/ws/${room}?token=${member.token}`);
    sockets.push(socket);
    await socket.opened;
    await socket.next((f) => f.type === "active_users");
    expect((await call(one.url, "DELETE", `/rooms/${room}/members/${memberId}`, undefined, owner.token)).status).toBe(
      204,
    );
    expect((await socket.closed).code).toBe(CLOSE.REMOVED_FROM_ROOM);
    expect((await call(two.url, "GET", `/rooms/${room}/messages`, undefined, member.token)).status).toBe(404);
  }, 30_000);
});
