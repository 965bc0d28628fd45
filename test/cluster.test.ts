// Several instances on one PostgreSQL behave as one server: fanout, presence, revocation and room deletion
// across real server processes; a killed listener or a failed read loses nothing; a killed instance's users leave.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createSocketCounts } from "../src/realtime/presence.ts";
import { NOTIFY_CHANNEL } from "../src/realtime/bus.ts";
import { account, call, startServer, type ServerProcess, useCluster } from "./process.ts";
import { dialect, postgresOnly } from "./support.ts";
import { TestSocket, type Frame } from "./ws-client.ts";

type Account = Awaited<ReturnType<typeof account>>;

describe("socket counts (every dialect)", () => {
  test("a user counts once however many sockets; first and last are reported", () => {
    const counts = createSocketCounts();
    expect(counts.join(1, 7, "ann")).toEqual({ first: true });
    expect(counts.join(1, 7, "ann")).toEqual({ first: false });
    expect(counts.list(1)).toEqual([{ user_id: 7, username: "ann" }]);
    expect(counts.leave(1, 7)).toEqual({ last: false });
    expect(counts.leave(1, 7)).toEqual({ last: true });
    expect(counts.list(1)).toEqual([]);
    expect(counts.leave(1, 7)).toEqual({ last: false });
  });
});

describe.skipIf(dialect !== "postgres")(postgresOnly("several instances on one PostgreSQL"), () => {
  const TTL_SECONDS = 3;
  const cluster = useCluster(3, {
    INSTANCE_TTL_SECONDS: String(TTL_SECONDS),
    // Bursts of 40 messages per person, and every account signed up from 127.0.0.1.
    RATE_MESSAGES_PER_SECOND: "1000",
    RATE_MESSAGE_BURST: "1000",
    RATE_SIGNUPS_PER_ADDRESS: "0",
  });
  let servers: ServerProcess[] = [];
  const sockets: TestSocket[] = [];
  let admin: { token: string };

  beforeAll(async () => {
    servers = cluster.servers;
    admin = await account(servers[0]!.url, "admin", "admin");
  });
  afterAll(() => {
    for (const s of sockets) s.ws.close();
  });

  const room = async (name: string) =>
    (await call(servers[0]!.url, "POST", "/rooms/", { name }, admin.token)).json.id as number;
  async function join(server: ServerProcess, roomId: number, who: { username: string; token: string }) {
    const socket = new TestSocket(`ws://127.0.0.1:${server.port}/ws/${roomId}?token=${who.token}`);
    sockets.push(socket);
    await socket.opened;
    await socket.next((f) => f.type === "active_users" && f.users.some((u: any) => u.username === who.username));
    return socket;
  }
  const messageIds = (socket: TestSocket) => socket.ofType("message").map((f) => f.id as number);

  test("messages sent on every instance reach every client once, in id order", async () => {
    const roomId = await room("fanout");
    const users = await Promise.all(["ann", "ben", "cat"].map((u) => account(servers[0]!.url, u)));
    const clients = await Promise.all(users.map((u, i) => join(servers[i]!, roomId, u)));
    const acks = await Promise.all(
      clients.flatMap((c, i) => Array.from({ length: 40 }, (_, n) => c.say(`from ${i} #${n}`))),
    );
    expect(acks.every((a) => a.type === "ack")).toBe(true);
    const all = acks.map((a) => a.id as number).sort((a, b) => a - b);
    for (const c of clients) {
      await c.next((f) => f.type === "message" && f.id === all.at(-1), 15_000);
      const ids = messageIds(c).filter((id) => id >= all[0]!);
      expect(ids).toEqual(all);
    }
  });

  test("presence, typing, edits and deletes describe the whole room, across instances", async () => {
    const roomId = await room("presence");
    const dan = await account(servers[0]!.url, "dan");
    const eve = await account(servers[0]!.url, "eve");
    const d = await join(servers[0]!, roomId, dan);
    const e = await join(servers[1]!, roomId, eve);
    expect(
      e.frames
        .find((f) => f.type === "active_users")!
        .users.map((u: any) => u.username)
        .sort(),
    ).toEqual(["dan", "eve"]);
    expect(await d.next((f) => f.type === "user_joined" && f.username === "eve")).toBeDefined();
    // A second tab of eve on a third instance is not a new arrival.
    const e2 = await join(servers[2]!, roomId, eve);
    expect(e2.frames.find((f) => f.type === "active_users")!.count).toBe(2);
    e.send({ type: "typing" });
    expect(await d.nextOfType("typing")).toMatchObject({ username: "eve" });
    const sent = await e.say("typo hre");
    await d.next((f) => f.type === "message" && f.id === sent.id);
    await call(servers[2]!.url, "PATCH", `/messages/${sent.id}`, { content: "typo here" }, eve.token);
    expect(await d.nextOfType("message_updated")).toMatchObject({ id: sent.id, content: "typo here" });
    await call(servers[2]!.url, "DELETE", `/messages/${sent.id}`, undefined, eve.token);
    expect(await d.nextOfType("message_deleted")).toMatchObject({ id: sent.id });
    await e.close();
    await e2.close();
    const left = await d.next((f) => f.type === "user_left" && f.username === "eve");
    const after = await d.next((f) => f.type === "active_users" && d.frames.indexOf(f) > d.frames.indexOf(left));
    expect(after.users.map((u: any) => u.username)).toEqual(["dan"]);
    expect(d.ofType("user_joined").filter((f) => f.username === "eve")).toHaveLength(1);
  });

  test("an edit on one instance and a delete on another: no client sees the edit after the delete (100 runs)", async () => {
    const roomId = await room("edit-delete");
    const ida = await account(servers[0]!.url, "ida");
    const observers = await Promise.all(servers.map((s) => join(s, roomId, ida)));
    const post = async (content: string) =>
      (await call(servers[0]!.url, "POST", `/rooms/${roomId}/messages`, { content }, ida.token)).json.id as number;
    const ids: number[] = [];
    for (let run = 0; run < 100; run++) {
      const id = await post(`run ${run}`);
      ids.push(id);
      await Promise.all(observers.map((o) => o.next((f) => f.type === "message" && f.id === id)));
      const [edit, remove] = [servers[run % 3]!, servers[(run + 1) % 3]!];
      const [edited, deleted] = await Promise.all([
        call(edit.url, "PATCH", `/messages/${id}`, { content: `edited ${run}` }, ida.token),
        call(remove.url, "DELETE", `/messages/${id}`, undefined, ida.token),
      ]);
      expect([200, 404]).toContain(edited.status);
      expect(deleted.status).toBe(204);
      await Promise.all(observers.map((o) => o.next((f) => f.type === "message_deleted" && f.id === id)));
    }
    // Everything before this message has been published on every instance by the time it arrives.
    const last = await post("last");
    for (const o of observers) {
      await o.next((f) => f.type === "message" && f.id === last);
      for (const id of ids) {
        const changes = o.frames
          .filter((f) => (f.type === "message_updated" || f.type === "message_deleted") && f.id === id)
          .map((f) => f.type);
        expect(changes.at(-1)).toBe("message_deleted");
      }
    }
  }, 120_000);

  test("an instance's history and token checks follow changes made on the others (its caches hear the bus)", async () => {
    const roomId = await room("pages");
    const hal = await account(servers[0]!.url, "hal");
    const newestOnB = async () =>
      (await call(servers[1]!.url, "GET", `/rooms/${roomId}/messages`, undefined, hal.token)).json;
    const watcher = await join(servers[1]!, roomId, hal);
    expect(await newestOnB()).toEqual([]);
    const posted = (await call(servers[0]!.url, "POST", `/rooms/${roomId}/messages`, { content: "from A" }, hal.token))
      .json;
    // Once B's sockets have the message, so does B's history.
    await watcher.next((f) => f.type === "message" && f.id === posted.id);
    expect((await newestOnB()).map((m: any) => m.content)).toEqual(["from A"]);
    await call(servers[2]!.url, "PATCH", `/messages/${posted.id}`, { content: "edited on C" }, hal.token);
    await watcher.nextOfType("message_updated");
    expect((await newestOnB()).map((m: any) => m.content)).toEqual(["edited on C"]);
    await call(servers[2]!.url, "DELETE", `/messages/${posted.id}`, undefined, hal.token);
    await watcher.nextOfType("message_deleted");
    expect(await newestOnB()).toEqual([]);
    await call(servers[0]!.url, "POST", "/auth/logout", undefined, hal.token);
    expect((await watcher.closed).code).toBe(1008);
    expect((await call(servers[1]!.url, "GET", "/auth/me", undefined, hal.token)).status).toBe(401);
  });

  test("logout on one instance closes the user's sockets on the others; a deleted room closes everywhere", async () => {
    const roomId = await room("revocation");
    const fay = await account(servers[0]!.url, "fay");
    const gus = await account(servers[0]!.url, "gus");
    const f = await join(servers[1]!, roomId, fay);
    const g = await join(servers[2]!, roomId, gus);
    await call(servers[0]!.url, "POST", "/auth/logout", undefined, fay.token);
    expect((await f.closed).code).toBe(1008);
    await call(servers[0]!.url, "DELETE", `/rooms/${roomId}`, undefined, admin.token);
    expect((await g.closed).code).toBe(4404);
  });

  test("sockets opening on the other instances while logout runs do not outlive it, and post nothing after it (raced 20 times)", async () => {
    const roomId = await room("logout-race");
    const racer = await account(servers[0]!.url, "racer");
    let opened = 0;
    for (let trial = 0; trial < 20; trial++) {
      const token =
        trial === 0
          ? racer.token
          : (await call(servers[0]!.url, "POST", "/auth/login", { username: "racer", password: "password123" })).json
              .access_token;
      const opening = Array.from(
        { length: 8 },
        (_, i) => new TestSocket(`ws://127.0.0.1:${servers[1 + (i % 2)]!.port}/ws/${roomId}?token=${token}`),
      );
      sockets.push(...opening);
      // A different head start each trial, so the logout lands at different points of the handshakes.
      await Bun.sleep(trial % 4);
      expect((await call(servers[0]!.url, "POST", "/auth/logout", undefined, token)).status).toBe(204);
      const outcomes = await Promise.all(
        opening.map(async (s) => {
          const open = await s.opened.then(
            () => true,
            () => false,
          );
          if (open) {
            opened++;
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
      JSON.stringify({
        test: "logout race across instances",
        trials: 20,
        socketsPerTrial: 8,
        openedBeforeRefusal: opened,
      }),
    );
    expect((await call(servers[0]!.url, "GET", `/rooms/${roomId}/messages`, undefined, admin.token)).json).toEqual([]);
  }, 60_000);

  test("once a demotion or logout has returned on one instance, the others refuse admin actions and writes (12 runs each)", async () => {
    const roomId = await room("revoked-writes");
    const me = async (url: string, token: string) => (await call(url, "GET", "/auth/me", undefined, token)).json;
    for (let run = 0; run < 12; run++) {
      const boss = await account(servers[0]!.url, `boss${run}`);
      await call(
        servers[0]!.url,
        "PATCH",
        `/users/${(await me(servers[0]!.url, boss.token)).id}`,
        { role: "admin" },
        admin.token,
      );
      const token = (
        await call(servers[0]!.url, "POST", "/auth/login", { username: boss.username, password: "password123" })
      ).json.access_token;
      // Every instance has just checked (and may keep) the admin's token.
      for (const s of servers) expect((await call(s.url, "GET", "/users", undefined, token)).status).toBe(200);
      const id = (await me(servers[1]!.url, token)).id;
      expect((await call(servers[0]!.url, "PATCH", `/users/${id}`, { role: "user" }, admin.token)).status).toBe(200);
      const [list, created, posted] = await Promise.all([
        call(servers[1]!.url, "GET", "/users", undefined, token),
        call(servers[2]!.url, "POST", "/rooms/", { name: `boss room ${run}` }, token),
        call(servers[1]!.url, "POST", `/rooms/${roomId}/messages`, { content: "demoted" }, token),
      ]);
      expect([list.status, created.status, posted.status]).toEqual([401, 401, 401]);

      const user = await account(servers[0]!.url, `leaver${run}`);
      for (const s of servers) expect((await me(s.url, user.token)).username).toBe(user.username);
      expect((await call(servers[0]!.url, "POST", "/auth/logout", undefined, user.token)).status).toBe(204);
      const [post, again] = await Promise.all([
        call(servers[2]!.url, "POST", `/rooms/${roomId}/messages`, { content: "logged out" }, user.token),
        call(servers[1]!.url, "POST", `/rooms/${roomId}/messages`, { content: "logged out" }, user.token),
      ]);
      expect([post.status, again.status]).toEqual([401, 401]);
    }
    expect((await call(servers[0]!.url, "GET", `/rooms/${roomId}/messages`, undefined, admin.token)).json).toEqual([]);
  }, 60_000);

  test("a logout returns once the other instances have closed the user's sockets (its cost measured, 20 runs)", async () => {
    const roomId = await room("revocation-wait");
    const user = await account(servers[0]!.url, "waiter");
    const durations: number[] = [];
    for (let run = 0; run < 20; run++) {
      const token =
        run === 0
          ? user.token
          : (await call(servers[0]!.url, "POST", "/auth/login", { username: "waiter", password: "password123" })).json
              .access_token;
      const socket = await join(servers[1 + (run % 2)]!, roomId, { username: "waiter", token });
      const start = performance.now();
      expect((await call(servers[0]!.url, "POST", "/auth/logout", undefined, token)).status).toBe(204);
      durations.push(performance.now() - start);
      // Closed there before the logout answered; the close frame itself may still be on its way.
      socket.send({ content: "after logout", client_id: "late" });
      expect((await socket.closed).code).toBe(1008);
      expect(socket.ofType("ack")).toEqual([]);
    }
    durations.sort((a, b) => a - b);
    const ms = (q: number) => Math.round(durations[Math.floor(q * (durations.length - 1))]! * 10) / 10;
    console.log(
      JSON.stringify({
        test: "logout with sockets on other instances",
        runs: durations.length,
        medianMs: ms(0.5),
        maxMs: ms(1),
      }),
    );
    expect((await call(servers[0]!.url, "GET", `/rooms/${roomId}/messages`, undefined, admin.token)).json).toEqual([]);
  }, 60_000);

  test("what an instance's listener missed is made good when it is back: edits and deletes, revoked tokens, deleted rooms, rosters", async () => {
    const revokedRoom = await room("recheck-revoked");
    const deletedRoom = await room("recheck-deleted");
    const rosterRoom = await room("recheck-roster");
    const pia = await account(servers[0]!.url, "pia");
    const quin = await account(servers[0]!.url, "quin");
    const sam = await account(servers[0]!.url, "sam");
    const rex = await account(servers[0]!.url, "rex");
    const tia = await account(servers[0]!.url, "tia");
    const revoked = await join(servers[0]!, revokedRoom, pia);
    const inDeleted = await join(servers[0]!, deletedRoom, quin);
    const watcher = await join(servers[0]!, rosterRoom, sam);
    const leaver = await join(servers[1]!, rosterRoom, rex);
    await watcher.next((f) => f.type === "active_users" && f.users.some((u: any) => u.username === "rex"));
    // Instance 1 serves a join during the outage, when no new connection can be made: its pools are opened now.
    const warmRoom = await room("recheck-warm");
    await Promise.all([
      ...[pia, quin, sam].map((who) => join(servers[1]!, warmRoom, who)),
      ...Array.from({ length: 8 }, () =>
        call(servers[1]!.url, "GET", `/rooms/${warmRoom}/messages?before=999999`, undefined, sam.token),
      ),
    ]);
    const rostersBefore = watcher.ofType("active_users").length;
    const post = async (content: string) =>
      (await call(servers[0]!.url, "POST", `/rooms/${rosterRoom}/messages`, { content }, sam.token)).json.id as number;
    const [toEdit, toDelete] = [await post("to be edited"), await post("to be deleted")];
    await watcher.next((f) => f.type === "message" && f.id === toDelete);

    const pg = postgres(cluster.scratchUrl, { max: 1, onnotice: () => {} });
    // ALTER DATABASE from outside it: PostgreSQL refuses to shut the current database.
    const outside = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    const database = new URL(cluster.scratchUrl).pathname.slice(1);
    const present = async () =>
      (await pg`SELECT count(*)::int AS n FROM presence WHERE room_id = ${rosterRoom} AND username = 'rex'`)[0]!
        .n as number;
    await present(); // connected before the door closes
    try {
      // Every bus connection killed, and none can come back: what happens now reaches no other instance.
      await outside.unsafe(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
      await pg`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'chat-bus' AND datname = current_database()`;
      expect((await call(servers[1]!.url, "POST", "/auth/logout", undefined, pia.token)).status).toBe(204);
      expect((await call(servers[1]!.url, "DELETE", `/rooms/${deletedRoom}`, undefined, admin.token)).status).toBe(204);
      expect(
        (await call(servers[1]!.url, "PATCH", `/messages/${toEdit}`, { content: "edited while away" }, sam.token))
          .status,
      ).toBe(200);
      expect((await call(servers[1]!.url, "DELETE", `/messages/${toDelete}`, undefined, sam.token)).status).toBe(204);
      leaver.ws.close();
      while ((await present()) > 0) await Bun.sleep(20);
      await join(servers[1]!, rosterRoom, tia);
      // The events were lost: nothing closed or changed on instance 0 meanwhile.
      await Bun.sleep(500);
      expect([revoked.ws.readyState, inDeleted.ws.readyState]).toEqual([WebSocket.OPEN, WebSocket.OPEN]);
      expect(watcher.ofType("active_users").length).toBe(rostersBefore);
      expect(watcher.frames.filter((f) => f.type === "message_updated" || f.type === "message_deleted")).toEqual([]);
    } finally {
      await outside.unsafe(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
      await Promise.all([pg.end(), outside.end()]);
    }
    expect((await revoked.closed).code).toBe(1008);
    expect((await inDeleted.closed).code).toBe(4404);
    const roster = await watcher.next(
      (f) => f.type === "active_users" && watcher.ofType("active_users").indexOf(f) >= rostersBefore,
    );
    expect(roster.users.map((u: any) => u.username)).toEqual(["sam", "tia"]);
    // The missed leave before the list, the missed join after it (the seed's order).
    await watcher.next((f) => f.type === "user_joined" && f.username === "tia");
    const around = watcher.frames.slice(watcher.frames.indexOf(roster) - 1, watcher.frames.indexOf(roster) + 2);
    expect(around.map((f) => [f.type, f.username ?? null])).toEqual([
      ["user_left", "rex"],
      ["active_users", null],
      ["user_joined", "tia"],
    ]);
    expect(await watcher.next((f) => f.type === "message_updated" && f.id === toEdit)).toMatchObject({
      content: "edited while away",
    });
    expect(await watcher.next((f) => f.type === "message_deleted")).toMatchObject({
      id: toDelete,
      room_id: rosterRoom,
    });
  });

  test("killing the listeners' connections loses nothing: each instance catches up from the database", async () => {
    const roomId = await room("listener-kill");
    // Someone sends on every instance, so each one's own batches also wait for their notifications (another
    // instance committed in between), the ones the kills lose included. Everyone must receive everything.
    const people = await Promise.all(["lea", "max", "ned"].map((u) => account(servers[0]!.url, u)));
    const clients = await Promise.all(people.map((p, i) => join(servers[i]!, roomId, p)));
    const pg = postgres(cluster.scratchUrl, { max: 1, onnotice: () => {} });
    // A terminated backend can linger in pg_stat_activity for a moment: listeners are told apart by pid.
    const killed = new Set<number>();
    const listeners = async () =>
      (
        await pg<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()
        AND application_name = 'chat-bus' AND query ILIKE 'listen%'`
      )
        .map((r) => r.pid)
        .filter((pid) => !killed.has(pid));
    const listening = async () => (await listeners()).length;
    const kill = async () => {
      const pids = await listeners();
      for (const pid of pids) killed.add(pid);
      return pg`SELECT pg_terminate_backend(pid) FROM unnest(${`{${pids.join(",")}}`}::int[]) AS pid`;
    };
    const ids: number[] = [];
    for (let round = 0; round < 4; round++) {
      const sending = clients.flatMap((c, i) =>
        Array.from({ length: 20 }, (_, n) => c.say(`round ${round} from ${i} #${n}`)),
      );
      // Twice, each time once every instance listens again.
      if (round === 1 || round === 2) {
        while ((await listening()) < servers.length) await Bun.sleep(20);
        expect((await kill()).length).toBeGreaterThanOrEqual(servers.length);
      }
      const acks = await Promise.all(sending);
      expect(acks.every((a) => a.type === "ack")).toBe(true);
      ids.push(...acks.map((a) => a.id as number));
    }
    // The next test's presence events must not go out while a listener is still away.
    while ((await listening()) < servers.length) await Bun.sleep(20);
    await pg.end();
    ids.sort((a, b) => a - b);
    for (const c of clients) {
      // Delivery is in id order, so once the last one is in, a missing one is lost, not late.
      await c.next((f) => f.type === "message" && f.id === ids.at(-1), 20_000);
      expect(messageIds(c)).toEqual(ids);
    }
  });

  test("a message an instance failed to read (its connection killed mid-read) is read again, not skipped", async () => {
    const roomId = await room("failed-read");
    const ola = await account(servers[0]!.url, "ola");
    const receiver = await join(servers[1]!, roomId, ola);
    const pg = postgres(cluster.scratchUrl, { max: 2, onnotice: () => {} });
    // Stored behind the servers' backs and announced as the store announces it, while the users table is
    // locked: the receiving instance's read of it waits for the lock, and its connection is killed there.
    const { id } = (
      await pg<{ id: number }[]>`INSERT INTO messages (room_id, user_id, content, created_at)
      SELECT ${roomId}, id, 'read twice', now() FROM users WHERE username = 'ola' RETURNING id`
    )[0]!;
    await pg.begin(async (tx) => {
      await tx`LOCK TABLE users IN ACCESS EXCLUSIVE MODE`;
      await pg`SELECT pg_notify(${NOTIFY_CHANNEL}, ${JSON.stringify({ kind: "messages", origin: "test", items: [[roomId, id]] })})`;
      const killWaiting = () => pg`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`;
      while ((await killWaiting()).length === 0) await Bun.sleep(20);
    });
    await pg.end();
    const after = (await call(servers[0]!.url, "POST", `/rooms/${roomId}/messages`, { content: "after it" }, ola.token))
      .json;
    await receiver.next((f) => f.type === "message" && f.id === after.id);
    expect(messageIds(receiver)).toEqual([id, after.id]);
  });

  test(
    "an instance paused past the TTL: its users leave, and come back on resume; its stale token checks do not outlive a logout",
    async () => {
      const roomId = await room("paused");
      const [obs, pat, quinn] = (await Promise.all(
        ["obs", "pat", "quinn"].map((u) => account(servers[0]!.url, u)),
      )) as [Account, Account, Account];
      const observer = await join(servers[0]!, roomId, obs);
      const paused = servers[1]!;
      const patSocket = await join(paused, roomId, pat);
      const quinnSocket = await join(paused, roomId, quinn);
      await observer.next((f) => f.type === "active_users" && f.users.length === 3);
      // The paused instance has just checked quinn's token (and may keep it).
      expect((await call(paused.url, "GET", "/auth/me", undefined, quinn.token)).status).toBe(200);
      paused.child.kill("SIGSTOP");
      let after = -1;
      try {
        const gone = await observer.next(
          (f) => f.type === "user_left" && f.username === "pat",
          (TTL_SECONDS * 3 + 5) * 1000,
        );
        after = observer.frames.indexOf(gone);
        // Waits for the paused instance's answer, at most REVOKE_WAIT_MS.
        expect((await call(servers[0]!.url, "POST", "/auth/logout", undefined, quinn.token)).status).toBe(204);
      } finally {
        paused.child.kill("SIGCONT");
      }
      // Requests the resumed instance reads before the bus's news of the logout are checked in the database.
      const posted = await call(
        paused.url,
        "POST",
        `/rooms/${roomId}/messages`,
        { content: "stale token" },
        quinn.token,
      );
      expect(posted.status).toBe(401);
      expect((await quinnSocket.closed).code).toBe(1008);
      const later = (f: Frame) => observer.frames.indexOf(f) > after;
      const back = await observer.next(
        (f) => later(f) && f.type === "user_joined" && f.username === "pat",
        (TTL_SECONDS * 3 + 5) * 1000,
      );
      const roster = await observer.next(
        (f) => later(f) && f.type === "active_users" && f.users.some((u: any) => u.username === "pat"),
      );
      expect(roster.users.map((u: any) => u.username).sort()).toEqual(["obs", "pat"]);
      expect(back.message).toBe("pat joined the room");
      // pat was never told it had left, and its messages reach the room.
      expect(patSocket.frames.filter((f) => f.type === "user_left" && f.username === "pat")).toEqual([]);
      const sent = await patSocket.say("still here");
      await observer.next((f) => f.type === "message" && f.id === sent.id);
    },
    (TTL_SECONDS * 6 + 30) * 1000,
  );

  test(
    "an instance killed with SIGKILL has its users leave the room within the TTL",
    async () => {
      const roomId = await room("sigkill");
      const joe = await account(servers[0]!.url, "joe");
      const kim = await account(servers[0]!.url, "kim");
      const watcher = await join(servers[0]!, roomId, joe);
      await join(servers[2]!, roomId, kim);
      await watcher.next((f) => f.type === "user_joined" && f.username === "kim");
      const killedAt = Date.now();
      await servers[2]!.stop("SIGKILL");
      const left: Frame = await watcher.next(
        (f) => f.type === "user_left" && f.username === "kim",
        (TTL_SECONDS * 2 + 5) * 1000,
      );
      const seconds = (Date.now() - killedAt) / 1000;
      console.log(JSON.stringify({ test: "instance SIGKILL", ttlSeconds: TTL_SECONDS, userLeftAfterSeconds: seconds }));
      expect(left.message).toBe("kim left the room");
      expect(seconds).toBeLessThan(TTL_SECONDS + TTL_SECONDS / 3 + 3);
      const list = await watcher.next(
        (f) => f.type === "active_users" && watcher.frames.indexOf(f) > watcher.frames.indexOf(left),
      );
      expect(list.users.map((u: any) => u.username)).toEqual(["joe"]);
      // bun's default of 5 s is shorter than the bound asserted above (TTL plus a heartbeat plus slack).
    },
    (TTL_SECONDS * 2 + 10) * 1000,
  );
});

// A TTL longer than any wait below: departures seen here are announced by the instances, not found by the TTL.
describe.skipIf(dialect !== "postgres")(
  postgresOnly("several instances: one join and one leave per person, and a graceful stop announces its departures"),
  () => {
    // Every account signed up from 127.0.0.1.
    const env = { INSTANCE_TTL_SECONDS: "600", RATE_SIGNUPS_PER_ADDRESS: "0" };
    const cluster = useCluster(3, env);
    let servers: ServerProcess[] = [];
    const sockets: TestSocket[] = [];
    let admin: { token: string };

    beforeAll(async () => {
      servers = cluster.servers;
      admin = await account(servers[0]!.url, "admin", "admin");
    });
    afterAll(() => {
      for (const s of sockets) s.ws.close();
    });

    const room = async (name: string) =>
      (await call(servers[0]!.url, "POST", "/rooms/", { name }, admin.token)).json.id as number;
    function open(server: ServerProcess, roomId: number, token: string) {
      const socket = new TestSocket(`ws://127.0.0.1:${server.port}/ws/${roomId}?token=${token}`);
      sockets.push(socket);
      return socket;
    }
    const joined = (socket: TestSocket, username: string) =>
      socket.next((f) => f.type === "active_users" && f.users.some((u: any) => u.username === username));

    test("the same person opening and closing sockets on two instances at the same moment joins once and leaves once (20 runs)", async () => {
      const roomId = await room("twins");
      const watcherAccount = await account(servers[0]!.url, "watcher");
      const watcher = open(servers[2]!, roomId, watcherAccount.token);
      await joined(watcher, "watcher");
      const pg = postgres(cluster.scratchUrl, { max: 1, onnotice: () => {} });
      const rows = async (username: string) =>
        (await pg`SELECT count(*)::int AS n FROM presence WHERE username = ${username}`)[0]!.n as number;
      try {
        for (let run = 0; run < 20; run++) {
          const who = await account(servers[0]!.url, `twin${run}`);
          const pair = [open(servers[0]!, roomId, who.token), open(servers[1]!, roomId, who.token)];
          await Promise.all(pair.map((s) => joined(s, who.username)));
          await watcher.next((f) => f.type === "user_joined" && f.username === who.username);
          // A socket counts once its join is recorded, after its history: a roster frame can come before that.
          while ((await rows(who.username)) < 2) await Bun.sleep(10);
          for (const s of pair) s.ws.close();
          await Promise.all(pair.map((s) => s.closed));
          await watcher.next((f) => f.type === "user_left" && f.username === who.username);
          // Both leaves committed (and with them any announcement); a message stored after them arrives after those.
          while ((await rows(who.username)) > 0) await Bun.sleep(10);
          const marker = (
            await call(
              servers[1]!.url,
              "POST",
              `/rooms/${roomId}/messages`,
              { content: `after ${run}` },
              watcherAccount.token,
            )
          ).json;
          await watcher.next((f) => f.type === "message" && f.id === marker.id);
          const about = (type: string) =>
            watcher.frames.filter((f) => f.type === type && f.username === who.username).length;
          expect([about("user_joined"), about("user_left")]).toEqual([1, 1]);
        }
      } finally {
        await pg.end();
      }
    }, 120_000);

    test("an instance stopped with SIGTERM: the others announce its users' departures at once (not after the TTL)", async () => {
      const roomId = await room("sigterm");
      const [watcherAccount, ava, bob] = (await Promise.all(
        ["watcher2", "ava", "bob"].map((u) => account(servers[0]!.url, u)),
      )) as [Account, Account, Account];
      const watcher = open(servers[0]!, roomId, watcherAccount.token);
      await joined(watcher, "watcher2");
      const leaving = await startServer({ ...env, DATABASE_URL: cluster.scratchUrl });
      const a = open(leaving, roomId, ava.token);
      const b = open(leaving, roomId, bob.token);
      const b2 = open(servers[1]!, roomId, bob.token); // bob stays, on another instance
      await Promise.all([joined(a, "ava"), joined(b, "bob"), joined(b2, "bob")]);
      await watcher.next((f) => f.type === "active_users" && f.users.length === 3);
      expect(await leaving.stop("SIGTERM")).toBe(0);
      expect((await a.closed).code).toBe(1001);
      const left = await watcher.next((f) => f.type === "user_left" && f.username === "ava");
      const roster = await watcher.next(
        (f) => f.type === "active_users" && watcher.frames.indexOf(f) > watcher.frames.indexOf(left),
      );
      expect(roster.users.map((u: any) => u.username).sort()).toEqual(["bob", "watcher2"]);
      // bob is still here through the other instance: not announced as gone.
      const marker = (
        await call(servers[1]!.url, "POST", `/rooms/${roomId}/messages`, { content: "marker" }, bob.token)
      ).json;
      await watcher.next((f) => f.type === "message" && f.id === marker.id);
      expect(watcher.frames.filter((f) => f.type === "user_left" && f.username === "bob")).toEqual([]);
    }, 60_000);
  },
);
