// Limits per person under attack: one user's message budget across sockets and HTTP posts, a cap on one user's
// sockets, a stranger's guesses that cannot keep the owner out, and signup floods (per address, bounded hashing).
// Time is a frozen test clock: budgets are exact counts, never a race against the wall clock.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { PasswordHasher } from "../src/auth/password.ts";
import { LOGIN_LIMITS, SIGNUP_HASHING, SIGNUP_WINDOW_MS } from "../src/auth/rate-limit.ts";
import type { AppError } from "../src/errors.ts";
import { createTestApp, dialect, testClock, type TestApp } from "./support.ts";
import { TestSocket } from "./ws-client.ts";

type Account = Awaited<ReturnType<TestApp["user"]>>;
const clock = testClock();
const LIMITS = { messagesPerSecond: 10, messageBurst: 30, socketsPerUser: 20 };
let t: TestApp;
let http: string;
let ws: string;
let admin: Account;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  t = await createTestApp({ clock, limits: LIMITS });
  t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
  http = `http://127.0.0.1:${t.app.server!.port}`;
  ws = http.replace(/^http/, "ws");
  admin = await t.user("admin", { role: "admin" });
});
afterAll(async () => {
  for (const s of sockets) s.ws.close();
  await t.app.stop(true);
  await t.dispose();
});

async function room(name: string): Promise<number> {
  return (await t.request("POST", "/rooms/", { token: admin.token, body: { name } })).json.id;
}

async function join(roomId: number, who: Account): Promise<TestSocket> {
  const socket = new TestSocket(`${ws}/ws/${roomId}?token=${who.token}`);
  sockets.push(socket);
  await socket.opened;
  await socket.next((f) => f.type === "active_users" && f.users.some((u: any) => u.username === who.username));
  return socket;
}

async function storedCount(roomId: number, token: string): Promise<number> {
  let stored = 0;
  for (let before: number | undefined; ; ) {
    const page = await t.request("GET", `/rooms/${roomId}/messages?limit=100${before ? `&before=${before}` : ""}`, {
      token,
    });
    stored += page.json.length;
    if (page.json.length < 100) return stored;
    before = page.json.at(-1).id;
  }
}

/** The answer to a WebSocket handshake that is refused before the upgrade. */
async function refusedHandshake(url: string) {
  const response = await fetch(url.replace(/^ws/, "http"), {
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": btoa("0123456789abcdef"),
    },
  });
  return { status: response.status, json: (await response.json()) as { code: string } };
}

describe(`messages per user (${dialect})`, () => {
  test("10 sockets of one user sending 5,000 messages: the burst is stored, the rest is RATE_LIMITED", async () => {
    const roomId = await room("flood");
    const flooder = await t.user("flooder");
    const mine = await Promise.all(Array.from({ length: 10 }, () => join(roomId, flooder)));
    mine.forEach((socket, s) => {
      for (let i = 0; i < 500; i++) socket.send({ content: `flood ${s}-${i}`, client_id: `f${s}-${i}` });
    });
    const outcomes = (
      await Promise.all(
        mine.map((socket, s) =>
          Promise.all(
            Array.from({ length: 500 }, (_, i) =>
              socket.next((f) => (f.type === "ack" || f.type === "error") && f.client_id === `f${s}-${i}`, 30_000),
            ),
          ),
        ),
      )
    ).flat();
    const acked = outcomes.filter((f) => f.type === "ack").length;
    const limited = outcomes.filter((f) => f.type === "error" && f.code === "RATE_LIMITED");
    expect(acked).toBe(LIMITS.messageBurst);
    expect(limited).toHaveLength(5000 - LIMITS.messageBurst);
    expect(limited[0]!.detail).toContain(`${LIMITS.messagesPerSecond} messages per second`);
    expect(await storedCount(roomId, flooder.token)).toBe(LIMITS.messageBurst);

    // The same budget covers the user's HTTP posts; someone else's is untouched.
    const post = (who: Account, content: string) =>
      t.request("POST", `/rooms/${roomId}/messages`, { token: who.token, body: { content } });
    const refused = await post(flooder, "over http");
    expect(refused.status).toBe(429);
    expect(refused.json.code).toBe("RATE_LIMITED");
    expect(refused.headers.get("retry-after")).toBe("1");
    const bystander = await t.user("bystander");
    expect((await post(bystander, "hello")).status).toBe(201);

    // A second later the budget has grown by the rate, and not beyond it.
    clock.advance(1000);
    for (let i = 0; i < LIMITS.messagesPerSecond; i++) expect((await post(flooder, `refilled ${i}`)).status).toBe(201);
    expect((await post(flooder, "one too many")).status).toBe(429);
    expect((await mine[0]!.say("and over a socket")).code).toBe("RATE_LIMITED");
    clock.advance(1000);
    expect((await mine[0]!.say("after a pause")).type).toBe("ack");
    await Promise.all(mine.map((socket) => socket.close()));
  });
});

describe(`sockets per user (${dialect})`, () => {
  test(`the ${LIMITS.socketsPerUser + 1}st socket of one user is refused with 429 before the upgrade; a closed one frees its place`, async () => {
    const roomId = await room("crowd");
    const hoarder = await t.user("hoarder");
    const open = await Promise.all(Array.from({ length: LIMITS.socketsPerUser }, () => join(roomId, hoarder)));
    const refused = await refusedHandshake(`${ws}/ws/${roomId}?token=${hoarder.token}`);
    expect(refused).toEqual({ status: 429, json: expect.objectContaining({ code: "TOO_MANY_SOCKETS" }) });
    // Someone else still gets in.
    const other = await t.user("other");
    await (await join(roomId, other)).close();
    // The server has seen the close by the time the client has its answer (same process, one event loop).
    await open.pop()!.close();
    const again = await join(roomId, hoarder);
    expect(again.ws.readyState).toBe(WebSocket.OPEN);
    expect((await refusedHandshake(`${ws}/ws/${roomId}?token=${hoarder.token}`)).status).toBe(429);
    await Promise.all([...open, again].map((socket) => socket.close()));
  });
});

describe(`no lockout by strangers (${dialect})`, () => {
  test("1,000 wrong guesses in any case from 100 other addresses: few are checked, and the owner still logs in", async () => {
    const owner = await t.user("owner");
    const overTcp = (password: string) =>
      fetch(`${http}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: "owner", password }),
      });
    // The owner has logged in from here before (127.0.0.1 is their address).
    expect((await overTcp(owner.password)).status).toBe(200);

    let checked = 0;
    let limited = 0;
    for (let i = 0; i < 1000; i++) {
      try {
        // Login takes any case: another spelling is the same name to the limits.
        await t.auth.login(["owner", "Owner", "OWNER", "oWnEr"][i % 4]!, `guess-${i}`, `203.0.113.${i % 100}`);
      } catch (error) {
        const code = (error as AppError).code;
        if (code === "BAD_CREDENTIALS") checked++;
        else if (code === "RATE_LIMITED") limited++;
        else throw error;
      }
    }
    // The first failures pass, then one guess per second across all addresses; the clock stands still here.
    expect(checked).toBe(LOGIN_LIMITS.usernameFailures + 1);
    expect(limited).toBe(1000 - checked);

    const response = await overTcp(owner.password);
    expect(response.status).toBe(200);
    expect((await response.json()).access_token).toEqual(expect.any(String));

    // From an address they never used, the owner is slowed down, not locked out.
    let slowed: unknown;
    await t.auth.login("owner", owner.password, "198.51.100.7").catch((error) => (slowed = error));
    expect(slowed).toMatchObject({ code: "RATE_LIMITED", headers: { "retry-after": "1" } });
    clock.advance(LOGIN_LIMITS.slowIntervalMs);
    expect(await t.auth.login("owner", owner.password, "198.51.100.7")).toMatchObject({
      access_token: expect.any(String),
    });
    clock.advance(LOGIN_LIMITS.usernameWindowMs);
  });
});

/** A hasher that holds hashes back while `holding`, and remembers how many ran at once. */
function heldHasher() {
  const held: (() => void)[] = [];
  let running = 0;
  const hasher = {
    holding: false,
    held,
    maxRunning: 0,
    /** Resolves when `held` has something in it. */
    changed: Promise.withResolvers<void>(),
    hash(password: string): Promise<string> {
      running++;
      hasher.maxRunning = Math.max(hasher.maxRunning, running);
      const done = () => {
        running--;
        return `held:${password}`;
      };
      if (!hasher.holding) return Promise.resolve(done());
      return new Promise((resolve) => {
        held.push(() => resolve(done()));
        hasher.changed.resolve();
      });
    },
    verify: async (password: string, hash: string) => hash === `held:${password}`,
    burn: async () => {},
  };
  return hasher satisfies PasswordHasher;
}

describe(`signup floods (${dialect})`, () => {
  const signupClock = testClock();
  const hasher = heldHasher();
  let s: TestApp;
  let base: string;
  beforeAll(async () => {
    s = await createTestApp({ clock: signupClock, limits: { signupsPerAddress: 5 }, passwords: hasher });
    s.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
    base = `http://127.0.0.1:${s.app.server!.port}`;
  });
  afterAll(async () => {
    await s.app.stop(true);
    await s.dispose();
  });

  const signupOverTcp = async (username: string) => {
    const response = await fetch(`${base}/auth/signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, email: `${username}@example.com`, password: "password-123" }),
    });
    return {
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
      json: (await response.json()) as { code?: string },
    };
  };

  test("10 concurrent signups from one address: 5 accounts, then 429 RATE_LIMITED until the window ends", async () => {
    // A refusal for a taken name costs no hash, and so no place.
    expect(
      (
        await s.request("POST", "/auth/signup", {
          body: { username: "taken", email: "taken@example.com", password: "password-123" },
        })
      ).status,
    ).toBe(201);
    expect((await signupOverTcp("taken")).json.code).toBe("USERNAME_TAKEN");

    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => signupOverTcp(`flood${i}`)));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(5);
    const refused = answers.filter((a) => a.status !== 201);
    expect(refused).toHaveLength(5);
    for (const answer of refused) {
      expect(answer).toMatchObject({
        status: 429,
        json: { code: "RATE_LIMITED" },
        retryAfter: String(SIGNUP_WINDOW_MS / 1000),
      });
    }
    // Another address (here app.handle's, which has none) has its own budget.
    expect(
      (
        await s.request("POST", "/auth/signup", {
          body: { username: "elsewhere", email: "elsewhere@example.com", password: "password-123" },
        })
      ).status,
    ).toBe(201);
    signupClock.advance(SIGNUP_WINDOW_MS);
    expect((await signupOverTcp("next-window")).status).toBe(201);
  });

  test("a flood from many addresses is hashed a few at a time, some wait, the rest get 503; logins go on", async () => {
    const queued = SIGNUP_HASHING.concurrent + SIGNUP_HASHING.waiting;
    const total = queued + 18;
    hasher.holding = true;
    const outcomes: (AppError | string)[] = []; // an error, or the username created
    let settled = Promise.withResolvers<void>();
    const signups = Array.from({ length: total }, (_, i) =>
      s.auth
        .signup(
          { username: `wave${i}`, email: `wave${i}@example.com`, password: "password-123" },
          undefined,
          `192.0.2.${i}`,
        )
        .then(
          (user) => void outcomes.push(user.username),
          (error: AppError) => void outcomes.push(error),
        )
        .finally(() => settled.resolve()),
    );
    while (outcomes.length < total - queued) {
      await settled.promise;
      settled = Promise.withResolvers<void>();
    }
    expect(outcomes).toHaveLength(total - queued);
    for (const error of outcomes)
      expect(error).toMatchObject({ code: "SIGNUP_BUSY", status: 503, headers: { "retry-after": "1" } });
    expect(hasher.held).toHaveLength(SIGNUP_HASHING.concurrent);

    // Over HTTP the same refusal is a 503 with Retry-After; a login (a verify, not a signup hash) is not held up.
    const busy = await s.request("POST", "/auth/signup", {
      body: { username: "one-more", email: "one-more@example.com", password: "password-123" },
    });
    expect([busy.status, busy.json.code, busy.headers.get("retry-after")]).toEqual([503, "SIGNUP_BUSY", "1"]);
    expect(
      (await s.request("POST", "/auth/login", { body: { username: "taken", password: "password-123" } })).status,
    ).toBe(200);

    // Each release lets the next in line reach the hasher: never more than the slots are running.
    for (let released = 0; released < queued; ) {
      if (hasher.held.length === 0) await hasher.changed.promise;
      hasher.changed = Promise.withResolvers<void>();
      const batch = hasher.held.splice(0);
      released += batch.length;
      for (const done of batch) done();
    }
    hasher.holding = false;
    await Promise.all(signups);
    const created = outcomes.filter((o) => typeof o === "string");
    expect(created).toHaveLength(queued);
    expect(hasher.maxRunning).toBe(SIGNUP_HASHING.concurrent);
    expect(
      (await s.request("POST", "/auth/login", { body: { username: created.at(-1), password: "password-123" } })).status,
    ).toBe(200);
  });
});
