// Joining a room while messages flow through several instances: whatever its instance has or has not yet published,
// a joining socket gets its history and then every later message, each once and in id order; with `since`, exactly
// the messages after it. Real server processes on one PostgreSQL.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { account, call, type ServerProcess, useCluster } from "./process.ts";
import { dialect, postgresOnly } from "./support.ts";
import { TestSocket } from "./ws-client.ts";

describe.skipIf(dialect !== "postgres")(postgresOnly("several instances: joining under load"), () => {
  const cluster = useCluster(2, {
    RATE_MESSAGES_PER_SECOND: "1000",
    RATE_MESSAGE_BURST: "1000",
    RATE_SIGNUPS_PER_ADDRESS: "0",
  });
  const sockets: TestSocket[] = [];
  let admin: { token: string };
  let servers: ServerProcess[];

  beforeAll(async () => {
    servers = cluster.servers;
    admin = await account(servers[0]!.url, "admin", "admin");
  });
  afterAll(() => {
    for (const s of sockets) s.ws.close();
  });

  const room = async (name: string) =>
    (await call(servers[0]!.url, "POST", "/rooms/", { name }, admin.token)).json.id as number;
  function open(server: ServerProcess, roomId: number, token: string, since?: number) {
    const query = since === undefined ? "" : `&since=${since}`;
    const socket = new TestSocket(`ws://127.0.0.1:${server.port}/ws/${roomId}?token=${token}${query}`);
    sockets.push(socket);
    return socket;
  }
  const messageIds = (socket: TestSocket) => socket.ofType("message").map((f) => f.id as number);

  const ROUNDS = 3;
  const JOINERS_PER_ROUND = 40;
  test(`sockets joining with and without since while ~300 msg/s flow on two instances, with bursts: each gets every message once, in order (${ROUNDS} rounds of ${JOINERS_PER_ROUND} joiners)`, async () => {
    const people = await Promise.all(["sal", "tom", "uma", "vic"].map((u) => account(servers[0]!.url, u)));
    for (let round = 0; round < ROUNDS; round++) {
      // A room of its own each round: its first joiners on each instance are the room's first sockets there.
      const roomId = await room(`join-load-${round}`);
      const senders = people.map((p, i) => open(servers[i % 2]!, roomId, p.token));
      await Promise.all(senders.map((s) => s.opened));
      /**
       * Every acked message, with when it was sent: a joiner is owed every message sent after it opened (an ack's
       * arrival says nothing of when another instance published it: it can come after a joiner opened there).
       */
      const acked: { id: number; at: number }[] = [];
      let sending = true;
      const sent: Promise<unknown>[] = [];
      const say = (sender: TestSocket, content: string) => {
        const sentAt = performance.now();
        sent.push(sender.say(content).then((a) => a.type === "ack" && acked.push({ id: a.id, at: sentAt })));
      };
      const burst = (sender: TestSocket, content: string) => {
        for (let n = 0; n < 50; n++) say(sender, `${content} #${n}`);
      };
      const load = (async () => {
        for (let n = 0; sending; n++) {
          say(senders[n % senders.length]!, `round ${round} #${n}`);
          if (n % 3 === 2) await Bun.sleep(10); // about 300 a second
        }
      })();
      while (acked.length < 30) await Bun.sleep(5);

      const joiners: { socket: TestSocket; since?: number; openedAt: number }[] = [];
      for (let j = 0; j < JOINERS_PER_ROUND; j++) {
        // Every other joiner catches up from a recent message (as after a reconnect), the rest join afresh.
        const newest = Math.max(...acked.map((a) => a.id));
        const since = j % 2 === 0 ? undefined : newest - (j % 7) * 3;
        const joiner = { socket: open(servers[j % 2]!, roomId, people[j % 4]!.token, since), since, openedAt: 0 };
        void joiner.socket.opened.then(() => {
          joiner.openedAt = performance.now();
          // Now and then a burst as it opens: the other instance falls behind, and its joiners find more unpublished.
          if (j % 4 === 0) burst(senders[(j / 4) % senders.length]!, `round ${round} burst ${j}`);
        });
        joiners.push(joiner);
        await Bun.sleep(20);
      }
      await Promise.all(joiners.map((j) => j.socket.opened));
      await Bun.sleep(200);
      sending = false;
      await load;
      const acks = (await Promise.all(sent)) as unknown[];
      expect(acks.every(Boolean)).toBe(true);
      const all = acked.map((a) => a.id).sort((a, b) => a - b);
      const last = all.at(-1)!;

      const wrong: string[] = [];
      for (const [n, { socket, since, openedAt }] of joiners.entries()) {
        await socket.next((f) => f.type === "message" && f.id === last, 20_000);
        const got = messageIds(socket);
        // From its first message on, every message of the room, once and in order.
        const expected = all.slice(all.indexOf(got[0]!));
        const owedFrom =
          since === undefined
            ? Math.min(...acked.filter((a) => a.at > openedAt).map((a) => a.id))
            : all.find((id) => id > since)!;
        const problem =
          JSON.stringify(got) !== JSON.stringify(expected)
            ? "not every message of the room from its first, once, in order"
            : since === undefined
              ? got[0]! > owedFrom && `its first message ${got[0]} is after ${owedFrom}, sent after it opened`
              : got[0] !== owedFrom && `its first message ${got[0]} is not the first after since=${since}`;
        if (problem) wrong.push(`round ${round}, joiner ${n} (since ${since}): ${problem}`);
        socket.close();
      }
      for (const s of senders) s.close();
      expect(wrong).toEqual([]);
    }
  }, 120_000);

  test("a room's first socket on an instance, with a since past every message, does not stop that room there", async () => {
    const roomId = await room("since-past-everything");
    const [wes, xia] = await Promise.all([account(servers[0]!.url, "wes"), account(servers[0]!.url, "xia")]);
    const { id: first } = (
      await call(servers[0]!.url, "POST", `/rooms/${roomId}/messages`, { content: "before" }, wes.token)
    ).json;
    // A client that kept a cursor from another database, say: it has "everything" up to the largest id.
    const ahead = open(servers[1]!, roomId, wes.token, 2_147_483_647);
    expect((await ahead.nextOfType("sync")).complete).toBe(true);
    const plain = open(servers[1]!, roomId, xia.token);
    await plain.next((f) => f.type === "message" && f.id === first);
    const { id: later } = (
      await call(servers[0]!.url, "POST", `/rooms/${roomId}/messages`, { content: "after" }, wes.token)
    ).json;
    await plain.next((f) => f.type === "message" && f.id === later);
    await ahead.next((f) => f.type === "message" && f.id === later);
    expect(messageIds(plain)).toEqual([first, later]);
    expect(messageIds(ahead)).toEqual([later]);
  });
});
