// The PostgreSQL presence when its writes fail: a leave is not lost, and a failed heartbeat is logged.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createTestApp, dialect, postgresOnly, type TestApp, type TestStore } from "./support.ts";
import { TestSocket } from "./ws-client.ts";

type Account = Awaited<ReturnType<TestApp["user"]>>;

describe.skipIf(dialect !== "postgres")(postgresOnly("presence when PostgreSQL refuses its writes"), () => {
  let t: TestApp;
  let pg: ReturnType<typeof postgres>;
  let base: string;
  let admin: Account;
  let alice: Account;
  let bob: Account;
  const logged: Record<string, unknown>[] = [];
  const logWaiters: { match: (line: Record<string, unknown>) => boolean; resolve(): void }[] = [];
  /** Resolves once the presence has logged a line whose message starts with `msg`. */
  const loggedLine = (msg: string) =>
    new Promise<void>((resolve) => {
      const match = (line: Record<string, unknown>) => String(line.msg).startsWith(msg);
      if (logged.some(match)) return resolve();
      logWaiters.push({ match, resolve });
    });
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    // The shortest TTL the config allows: a heartbeat every second.
    const log = (line: Record<string, unknown>) => {
      logged.push(line);
      for (const w of logWaiters.filter((w) => w.match(line))) w.resolve();
    };
    t = await createTestApp({ presence: { log, ttlMs: 3000 } });
    t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
    base = `ws://127.0.0.1:${t.app.server!.port}`;
    pg = postgres((t.store as TestStore).scratchUrl!, { max: 1, onnotice: () => {} });
    await pg`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`;
    admin = await t.user("admin", { role: "admin" });
    alice = await t.user("alice");
    bob = await t.user("bob");
  });
  afterAll(async () => {
    for (const s of sockets) s.ws.close();
    await pg`DROP TRIGGER IF EXISTS refuse_delete ON presence`;
    await pg`DROP TRIGGER IF EXISTS refuse_heartbeat ON instances`;
    await pg.end();
    await t.app.stop();
    await t.dispose();
  });

  async function join(roomId: number, who: Account) {
    const socket = new TestSocket(`${base}/ws/${roomId}?token=${who.token}`);
    sockets.push(socket);
    await socket.next((f) => f.type === "active_users" && f.users.some((u: any) => u.username === who.username));
    return socket;
  }

  test("a leave whose DELETE fails is tried again: the room hears user_left once it is stored", async () => {
    const roomId = (await t.request("POST", "/rooms/", { token: admin.token, body: { name: "refused" } })).json.id;
    const watcher = await join(roomId, alice);
    const leaver = await join(roomId, bob);
    await watcher.next((f) => f.type === "user_joined" && f.username === "bob");
    await pg`CREATE TRIGGER refuse_delete BEFORE DELETE ON presence FOR EACH ROW EXECUTE FUNCTION refuse()`;
    await leaver.close();
    await loggedLine("presence leave not stored");
    await pg`DROP TRIGGER refuse_delete ON presence`;
    await watcher.next((f) => f.type === "user_left" && f.username === "bob");
    const list = await watcher.next(
      (f) => f.type === "active_users" && !f.users.some((u: any) => u.username === "bob"),
    );
    expect(list.users.map((u: any) => u.username)).toEqual(["alice"]);
    expect(
      (await pg`SELECT count(*)::int AS n FROM presence WHERE room_id = ${roomId} AND username = 'bob'`)[0]!.n,
    ).toBe(0);
  });

  test("a failed heartbeat is logged", async () => {
    await pg`CREATE TRIGGER refuse_heartbeat BEFORE UPDATE ON instances FOR EACH ROW EXECUTE FUNCTION refuse()`;
    await loggedLine("presence heartbeat failed");
    await pg`DROP TRIGGER refuse_heartbeat ON instances`;
    expect(logged.find((l) => l.msg === "presence heartbeat failed")?.error).toContain("refused by the test");
  });
});
