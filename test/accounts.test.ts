// Accounts people can live with (issue 20): refresh tokens with rotation and reuse detection, in-band socket
// renewal, password change, deleting one's account, and admins disabling and deleting accounts; the last of them on
// two real instances (PostgreSQL).
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { LOGIN_LIMITS } from "../src/auth/rate-limit.ts";
import { hashRefreshToken, REFRESH_LIMITS } from "../src/auth/refresh.ts";
import { CLOSE } from "../src/realtime/protocol.ts";
import { account, call, startServer, type ServerProcess } from "./process.ts";
import {
  createTestApp,
  dialect,
  openTestStore,
  postgresOnly,
  type TestApp,
  testClock,
  type TestStore,
} from "./support.ts";
import { TestSocket } from "./ws-client.ts";

type Account = Awaited<ReturnType<TestApp["user"]>>;

const clock = testClock();
let t: TestApp;
let base: string;
let admin: Account;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  t = await createTestApp({ clock, accessTokenTtlSeconds: 60 });
  t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
  base = `127.0.0.1:${t.app.server!.port}`;
  admin = await t.user("admin", { role: "admin" });
});
// Tests move the clock by days: the admin's token is made fresh for each.
beforeEach(async () => {
  admin.token = (await pairOf(admin)).access_token;
});
afterAll(async () => {
  for (const s of sockets) s.ws.close();
  await t.app.stop(true);
  await t.dispose();
});

const login = (username: string, password: string) =>
  t.request("POST", "/auth/login", { body: { username, password } });
const refresh = (token: string) => t.request("POST", "/auth/refresh", { body: { refresh_token: token } });
const me = (token: string) => t.request("GET", "/auth/me", { token });
const failure = (response: { status: number; json: any }) => [response.status, response.json?.code];

async function pairOf(who: Account) {
  const answer = await login(who.username, who.password);
  expect(answer.status).toBe(200);
  return answer.json as { access_token: string; refresh_token: string };
}

async function connect(roomId: number, token: string) {
  const socket = new TestSocket(`ws://${base}/ws/${roomId}`, ["chat", `bearer.${token}`]);
  sockets.push(socket);
  await socket.opened;
  await socket.nextOfType("active_users");
  return socket;
}

async function publicRoom(name: string): Promise<number> {
  const made = await t.request("POST", "/rooms/", { token: admin.token, body: { name } });
  expect(made.status).toBe(201);
  return made.json.id;
}

describe(`refresh tokens (${dialect})`, () => {
  test("login answers the seed's two fields and expires_in and refresh_token; refresh spends one for a new pair", async () => {
    const ann = await t.user("ann");
    const first = await login("ann", ann.password);
    expect(first.json).toEqual({
      access_token: expect.any(String),
      token_type: "bearer",
      expires_in: 60,
      refresh_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    const next = await refresh(first.json.refresh_token);
    expect(next.status).toBe(200);
    expect(next.json).toEqual({
      access_token: expect.any(String),
      token_type: "bearer",
      expires_in: 60,
      refresh_token: expect.any(String),
    });
    expect(next.json.refresh_token).not.toBe(first.json.refresh_token);
    expect((await me(next.json.access_token)).json.username).toBe("ann");
    // Only the hash is stored.
    expect(await t.store.findRefreshToken(next.json.refresh_token)).toBeUndefined();
    expect((await t.store.findRefreshToken(hashRefreshToken(next.json.refresh_token)))?.spentAt).toBeNull();
  });

  test("a spent token presented again revokes its family and the account's access tokens; another login only refreshes", async () => {
    const ben = await t.user("ben");
    const phone = await pairOf(ben);
    const laptop = await pairOf(ben);
    const stolen = phone.refresh_token;
    const rotated = (await refresh(stolen)).json;
    clock.advance(REFRESH_LIMITS.graceMs);

    expect(failure(await refresh(stolen))).toEqual([401, "REFRESH_TOKEN_REUSED"]);
    // Every token of that family stops, the newest included, and so does every access token of the account.
    expect(failure(await refresh(rotated.refresh_token))).toEqual([401, "INVALID_REFRESH_TOKEN"]);
    expect(failure(await me(rotated.access_token))).toEqual([401, "TOKEN_REVOKED"]);
    expect(failure(await me(laptop.access_token))).toEqual([401, "TOKEN_REVOKED"]);
    // The other login's refresh token still works.
    const again = await refresh(laptop.refresh_token);
    expect(again.status).toBe(200);
    expect((await me(again.json.access_token)).status).toBe(200);
  });

  test("two refreshes racing with one token: one wins, the other is refused without revoking anything", async () => {
    const cat = await t.user("cat");
    const pair = await pairOf(cat);
    const answers = await Promise.all([refresh(pair.refresh_token), refresh(pair.refresh_token)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 401]);
    const winner = answers.find((a) => a.status === 200)!.json;
    expect(failure(answers.find((a) => a.status === 401)!)).toEqual([401, "REFRESH_TOKEN_SPENT"]);
    // The family lives on: the winner's pair works, and so does the next rotation.
    expect((await me(winner.access_token)).status).toBe(200);
    expect((await me(pair.access_token)).status).toBe(200);
    const next = await refresh(winner.refresh_token);
    expect(next.status).toBe(200);
    // Presented again after the grace period, the raced token is reuse.
    clock.advance(REFRESH_LIMITS.graceMs);
    expect(failure(await refresh(pair.refresh_token))).toEqual([401, "REFRESH_TOKEN_REUSED"]);
    expect(failure(await refresh(next.json.refresh_token))).toEqual([401, "INVALID_REFRESH_TOKEN"]);
  });

  test("in the store, of many rotations of one token at once exactly one succeeds", async () => {
    const ivy = await t.user("ivy");
    const now = new Date(clock.now);
    const later = new Date(clock.now + REFRESH_LIMITS.ttlMs);
    const token = (i: number) => ({
      hash: `hash-${i}`,
      familyId: "ivy-family",
      userId: ivy.id,
      createdAt: now,
      expiresAt: later,
    });
    await t.store.insertRefreshToken(token(0));
    const outcomes = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((i) => t.store.rotateRefreshToken("hash-0", token(i), now)),
    );
    expect(outcomes.filter(Boolean)).toHaveLength(1);
    expect((await t.store.findRefreshToken("hash-0"))?.spentAt).toEqual(now);
    const made = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => t.store.findRefreshToken(`hash-${i}`)));
    expect(made.filter(Boolean)).toHaveLength(1);
  });

  test("a refresh token lives 30 days from its issue; each refresh starts the next 30 days", async () => {
    const dan = await t.user("dan");
    let token = (await pairOf(dan)).refresh_token;
    for (let i = 0; i < 3; i++) {
      clock.advance(REFRESH_LIMITS.ttlMs - 1000);
      const answer = await refresh(token);
      expect(answer.status).toBe(200);
      token = answer.json.refresh_token;
    }
    const idle = await pairOf(dan);
    clock.advance(REFRESH_LIMITS.ttlMs);
    expect(failure(await refresh(idle.refresh_token))).toEqual([401, "INVALID_REFRESH_TOKEN"]);
  });

  test("logout revokes the refresh tokens too; unknown and malformed tokens are 401 and 422", async () => {
    const eve = await t.user("eve");
    const pair = await pairOf(eve);
    expect((await t.request("POST", "/auth/logout", { token: pair.access_token })).status).toBe(204);
    expect(failure(await refresh(pair.refresh_token))).toEqual([401, "INVALID_REFRESH_TOKEN"]);
    expect(failure(await refresh("not-a-token"))).toEqual([401, "INVALID_REFRESH_TOKEN"]);
    expect(failure(await refresh("\u0000".repeat(43)))).toEqual([401, "INVALID_REFRESH_TOKEN"]);
    expect((await refresh("x".repeat(REFRESH_LIMITS.maxLength + 1))).status).toBe(422);
    expect((await t.request("POST", "/auth/refresh", { body: {} })).status).toBe(422);
    expect((await t.request("POST", "/auth/refresh", { body: { refresh_token: 42 } })).status).toBe(422);
  });
});

describe(`sockets outlive an access token (${dialect})`, () => {
  test("a renewed socket stays open past the old expiry (frozen clock); one not renewed closes with 1008", async () => {
    const fay = await t.user("fay");
    const roomId = await publicRoom("renewals");
    const renewed = await connect(roomId, fay.token);
    const stale = await connect(roomId, fay.token);
    clock.advance(30_000);
    const fresh = (await pairOf(fay)).access_token;
    renewed.send({ type: "auth", token: fresh });
    const ok = await renewed.nextOfType("auth_ok");
    expect(ok).toEqual({ type: "auth_ok", expires_at: new Date(clock.now + 60_000).toISOString() });

    clock.advance(31_000); // past the first token's expiry, before the renewed one's
    expect((await renewed.say("still here")).type).toBe("ack");
    stale.send({ content: "too late", client_id: "late" });
    expect((await stale.closed).code).toBe(CLOSE.POLICY);
    const history = await t.request("GET", `/rooms/${roomId}/messages`, { token: fresh });
    expect(history.json.map((m: { content: string }) => m.content)).toEqual(["still here"]);
  });

  test("another user's token, or a bad one, is an error frame and close 1008", async () => {
    const gus = await t.user("gus");
    const roomId = await publicRoom("bad-renewals");
    const cases: [unknown, string][] = [
      [admin.token, "TOKEN_USER_MISMATCH"],
      ["not.a.jwt", "TOKEN_MALFORMED"],
      [42, "TOKEN_MALFORMED"],
    ];
    for (const [token, code] of cases) {
      const socket = await connect(roomId, gus.token);
      socket.send({ type: "auth", token });
      expect(await socket.nextOfType("error")).toMatchObject({ type: "error", code });
      expect((await socket.closed).code).toBe(CLOSE.POLICY);
    }
    // A revoked token of the same user (after logout) is refused too.
    const socket = await connect(roomId, (await pairOf(gus)).access_token);
    const old = gus.token;
    expect((await t.request("POST", "/auth/logout", { token: old })).status).toBe(204);
    expect((await socket.closed).code).toBe(CLOSE.POLICY);
  });
});

describe(`the person socket (GET /ws) outlives an access token too (${dialect})`, () => {
  async function watch(token: string) {
    const socket = new TestSocket(`ws://${base}/ws`, ["chat", `bearer.${token}`]);
    sockets.push(socket);
    await socket.opened;
    await socket.nextOfType("ready");
    return socket;
  }

  test("renewed in band, it stays open past the old expiry (frozen clock); one not renewed closes with 1008", async () => {
    const pia = await t.user("pia");
    const renewed = await watch(pia.token);
    const stale = await watch(pia.token);
    clock.advance(30_000);
    const fresh = (await pairOf(pia)).access_token;
    renewed.send({ type: "auth", token: fresh });
    expect(await renewed.nextOfType("auth_ok")).toEqual({
      type: "auth_ok",
      expires_at: new Date(clock.now + 60_000).toISOString(),
    });

    clock.advance(31_000); // past the first token's expiry, before the renewed one's
    // Any frame after the expiry is what notices it (the frozen clock fires no timer); the renewed socket answers.
    renewed.send({ type: "typing" });
    expect(await renewed.nextOfType("error")).toMatchObject({ code: "UNKNOWN_TYPE" });
    stale.send({ type: "typing" });
    expect((await stale.closed).code).toBe(CLOSE.POLICY);
    // Still delivering: a room made now appears on the renewed socket.
    const made = await t.request("POST", "/rooms/", {
      token: fresh,
      body: { name: "pia-later", visibility: "private" },
    });
    expect((await renewed.next((f) => f.type === "room_added")).room).toMatchObject({ id: made.json.id });
  });

  test("another user's token, or a bad one, is an error frame and close 1008", async () => {
    const quin = await t.user("quin");
    for (const [token, code] of [
      [admin.token, "TOKEN_USER_MISMATCH"],
      ["not.a.jwt", "TOKEN_MALFORMED"],
      [42, "TOKEN_MALFORMED"],
    ] as [unknown, string][]) {
      const socket = await watch(quin.token);
      socket.send({ type: "auth", token });
      expect(await socket.nextOfType("error")).toMatchObject({ type: "error", code });
      expect((await socket.closed).code).toBe(CLOSE.POLICY);
    }
  });
});

describe(`password change (${dialect})`, () => {
  test("the caller gets a fresh pair; every other token, refresh token and socket of the account stops", async () => {
    const hal = await t.user("hal");
    const roomId = await publicRoom("password-change");
    const other = await pairOf(hal);
    const socket = await connect(roomId, other.access_token);
    const changed = await t.request("POST", "/auth/password", {
      token: hal.token,
      body: { current_password: hal.password, new_password: "a-new-password" },
    });
    expect(changed.status).toBe(200);
    expect(changed.json).toEqual({
      access_token: expect.any(String),
      token_type: "bearer",
      expires_in: 60,
      refresh_token: expect.any(String),
    });
    expect((await socket.closed).code).toBe(CLOSE.POLICY);
    expect(failure(await me(hal.token))).toEqual([401, "TOKEN_REVOKED"]);
    expect(failure(await me(other.access_token))).toEqual([401, "TOKEN_REVOKED"]);
    expect(failure(await refresh(other.refresh_token))).toEqual([401, "INVALID_REFRESH_TOKEN"]);
    expect((await me(changed.json.access_token)).status).toBe(200);
    expect((await refresh(changed.json.refresh_token)).status).toBe(200);
    expect((await login("hal", hal.password)).status).toBe(401);
    expect((await login("hal", "a-new-password")).status).toBe(200);
  });

  test("a wrong current password is 401 and counts toward the login limits; bad bodies are 422", async () => {
    const ida = await t.user("ida");
    const wrong = { current_password: "not-her-password", new_password: "whatever-else" };
    for (let i = 0; i < LOGIN_LIMITS.usernameFailures; i++) {
      expect(failure(await t.request("POST", "/auth/password", { token: ida.token, body: wrong }))).toEqual([
        401,
        "BAD_CREDENTIALS",
      ]);
    }
    expect((await login("ida", ida.password)).status).toBe(429);
    clock.advance(LOGIN_LIMITS.usernameWindowMs);
    const tooShort = { current_password: ida.password, new_password: "short" };
    expect((await t.request("POST", "/auth/password", { token: ida.token, body: tooShort })).status).toBe(422);
    expect(
      (await t.request("POST", "/auth/password", { token: ida.token, body: { new_password: "long-enough" } })).status,
    ).toBe(422);
    expect(
      (
        await t.request("POST", "/auth/password", {
          body: { current_password: ida.password, new_password: "long-enough" },
        })
      ).status,
    ).toBe(401);
    expect((await login("ida", ida.password)).status).toBe(200);
  });
});

describe(`admins disable accounts (${dialect})`, () => {
  test("a disabled account cannot log in or refresh (403, after its password), its tokens and sockets stop", async () => {
    const jay = await t.user("jay");
    const roomId = await publicRoom("disabling");
    const pair = await pairOf(jay);
    const socket = await connect(roomId, jay.token);
    const disabled = await t.request("PATCH", `/users/${jay.id}`, { token: admin.token, body: { disabled: true } });
    expect(disabled.status).toBe(200);
    expect(disabled.json).toEqual({
      id: jay.id,
      username: "jay",
      email: "jay@example.com",
      role: "user",
      created_at: jay.created_at,
      disabled: true,
    });
    expect((await socket.closed).code).toBe(CLOSE.POLICY);
    expect(failure(await me(pair.access_token))).toEqual([401, "TOKEN_REVOKED"]);
    expect(failure(await login("jay", jay.password))).toEqual([403, "ACCOUNT_DISABLED"]);
    expect(failure(await login("jay", "wrong-password"))).toEqual([401, "BAD_CREDENTIALS"]);
    expect(failure(await refresh(pair.refresh_token))).toEqual([403, "ACCOUNT_DISABLED"]);
    const listed = (await t.request("GET", "/users", { token: admin.token })).json.find(
      (u: { id: number }) => u.id === jay.id,
    );
    expect(listed.disabled).toBe(true);

    const enabled = await t.request("PATCH", `/users/${jay.id}`, { token: admin.token, body: { disabled: false } });
    expect(enabled.json.disabled).toBe(false);
    // Back in, but only by logging in: the tokens from before stay revoked.
    expect(failure(await refresh(pair.refresh_token))).toEqual([401, "INVALID_REFRESH_TOKEN"]);
    expect((await login("jay", jay.password)).status).toBe(200);
  });

  test("PATCH takes role and disabled (at least one); only admins; the last active admin stays", async () => {
    const kim = await t.user("kim");
    expect((await t.request("PATCH", `/users/${kim.id}`, { token: admin.token, body: {} })).status).toBe(422);
    expect(
      (await t.request("PATCH", `/users/${kim.id}`, { token: admin.token, body: { disabled: "yes" } })).status,
    ).toBe(422);
    expect(
      (await t.request("PATCH", `/users/${admin.id}`, { token: kim.token, body: { disabled: true } })).status,
    ).toBe(403);
    expect(
      failure(await t.request("PATCH", `/users/${admin.id}`, { token: admin.token, body: { disabled: true } })),
    ).toEqual([409, "LAST_ADMIN"]);

    // Kim becomes an admin and is disabled in one change: admin counts active admins only.
    const both = await t.request("PATCH", `/users/${kim.id}`, {
      token: admin.token,
      body: { role: "admin", disabled: true },
    });
    expect([both.json.role, both.json.disabled]).toEqual(["admin", true]);
    expect(
      failure(await t.request("PATCH", `/users/${admin.id}`, { token: admin.token, body: { role: "user" } })),
    ).toEqual([409, "LAST_ADMIN"]);
    expect(failure(await t.request("DELETE", `/users/${admin.id}`, { token: admin.token }))).toEqual([
      409,
      "LAST_ADMIN",
    ]);
    expect(
      failure(await t.request("DELETE", "/auth/me", { token: admin.token, body: { password: admin.password } })),
    ).toEqual([409, "LAST_ADMIN"]);
    expect((await me(admin.token)).status).toBe(200);
    // The admin role of a disabled account does not count: a fresh signup cannot claim "the first admin" either.
    const claim = await t.request("POST", "/auth/signup", {
      body: { username: "sneaky", email: "sneaky@example.com", password: "password123", role: "admin" },
    });
    expect(claim.status).toBe(403);
  });

  test("two admins shutting each other out at once leave one active admin", async () => {
    const [one, two] = [await t.user("root-one"), await t.user("root-two")];
    for (const who of [one, two])
      await t.request("PATCH", `/users/${who.id}`, { token: admin.token, body: { role: "admin" } });
    await t
      .request("PATCH", `/users/${admin.id}`, { token: admin.token, body: { disabled: true } })
      .then((r) => expect(r.status).toBe(200));
    const [a, b] = [(await pairOf(one)).access_token, (await pairOf(two)).access_token];
    const answers = await Promise.all([
      t.request("PATCH", `/users/${two.id}`, { token: a, body: { disabled: true } }),
      t.request("DELETE", `/users/${one.id}`, { token: b }),
    ]);
    // One wins; the other is refused as the last admin, or finds its own token revoked by the winner.
    expect(answers.filter((r) => r.status < 300)).toHaveLength(1);
    expect(answers.filter((r) => r.status >= 300).map((r) => r.status)[0]).toBeOneOf([401, 409]);
    const survivor = answers[0]!.status < 300 ? one : two;
    const token = (await pairOf(survivor)).access_token;
    expect((await t.request("PATCH", `/users/${admin.id}`, { token, body: { disabled: false } })).status).toBe(200);
    admin.token = (await pairOf(admin)).access_token;
    expect(
      (await t.request("PATCH", `/users/${survivor.id}`, { token: admin.token, body: { role: "user" } })).status,
    ).toBe(200);
  });
});

describe(`deleting an account (${dialect})`, () => {
  test('DELETE /auth/me frees the name and email; messages stay under "deleted user"; private rooms pass on', async () => {
    const leo = await t.user("Leo");
    const mia = await t.user("mia");
    const pair = await pairOf(leo);
    const lobby = await publicRoom("leo-lobby");
    const talk = await connect(lobby, leo.token);
    expect((await talk.say("hello from leo")).type).toBe("ack");
    const owned = (
      await t.request("POST", "/rooms/", { token: leo.token, body: { name: "leo's", visibility: "private" } })
    ).json.id;
    expect(
      (await t.request("POST", `/rooms/${owned}/members`, { token: leo.token, body: { username: "mia" } })).status,
    ).toBe(201);
    await t.request("POST", `/rooms/${owned}/messages`, { token: leo.token, body: { content: "in private" } });
    const alone = (
      await t.request("POST", "/rooms/", { token: leo.token, body: { name: "just leo", visibility: "private" } })
    ).json.id;
    const direct = (await t.request("POST", "/dms", { token: mia.token, body: { username: "leo" } })).json.id;
    await t.request("POST", `/rooms/${direct}/messages`, { token: leo.token, body: { content: "psst" } });
    const watching = await connect(owned, mia.token);

    expect(
      failure(await t.request("DELETE", "/auth/me", { token: leo.token, body: { password: "wrong-password" } })),
    ).toEqual([401, "BAD_CREDENTIALS"]);
    expect((await t.request("DELETE", "/auth/me", { token: leo.token })).status).toBe(422);
    expect((await t.request("DELETE", "/auth/me", { token: leo.token, body: { password: leo.password } })).status).toBe(
      204,
    );

    expect((await talk.closed).code).toBe(CLOSE.POLICY);
    expect(failure(await me(leo.token))).toEqual([401, "TOKEN_REVOKED"]);
    expect(failure(await refresh(pair.refresh_token))).toEqual([403, "ACCOUNT_DISABLED"]);
    expect(failure(await login("Leo", leo.password))).toEqual([401, "BAD_CREDENTIALS"]);
    expect(failure(await login("deleted user", "!"))).toEqual([401, "BAD_CREDENTIALS"]);
    expect(await watching.next((f) => f.type === "member_removed")).toMatchObject({
      user_id: leo.id,
      username: "deleted user",
    });

    // History stays readable, in the seed's shapes, with a placeholder author and no email.
    const history = await t.request("GET", `/rooms/${lobby}/messages`, { token: mia.token });
    expect(history.json).toEqual([
      {
        id: expect.any(Number),
        content: "hello from leo",
        timestamp: expect.any(String),
        user_id: leo.id,
        room_id: lobby,
        client_id: expect.any(String),
        edited_at: null,
        user: { id: leo.id, username: "deleted user", role: "user", created_at: leo.created_at },
      },
    ]);
    const joiner = await connect(lobby, mia.token);
    expect(joiner.ofType("message").map((f) => [f.username, f.content])).toEqual([["deleted user", "hello from leo"]]);
    expect(JSON.stringify([history.json, joiner.frames])).not.toContain("example.com");

    // The private room passed to mia; the one leo was alone in is gone; the direct room stays for mia.
    const members = await t.request("GET", `/rooms/${owned}/members`, { token: mia.token });
    expect(members.json.map((m: { username: string; role: string }) => [m.username, m.role])).toEqual([
      ["mia", "owner"],
    ]);
    expect((await t.request("GET", `/rooms/${owned}/messages`, { token: mia.token })).json[0].user.username).toBe(
      "deleted user",
    );
    expect((await t.request("GET", `/rooms/${alone}`, { token: admin.token })).status).toBe(404);
    const dm = await t.request("GET", `/rooms/${direct}`, { token: mia.token });
    expect([dm.status, dm.json.name]).toEqual([200, "deleted user"]);
    expect((await t.request("GET", `/rooms/${direct}/messages`, { token: mia.token })).json[0]).toMatchObject({
      content: "psst",
      user: { username: "deleted user" },
    });
    expect((await t.request("POST", "/dms", { token: mia.token, body: { username: "deleted user" } })).status).toBe(
      404,
    );

    // The name and email are free, whatever their case; the admin's list no longer shows the account.
    const again = await t.request("POST", "/auth/signup", {
      body: { username: "leo", email: "LEO@example.com", password: "password123" },
    });
    expect(again.status).toBe(201);
    expect(again.json.id).not.toBe(leo.id);
    const users = (await t.request("GET", "/users", { token: admin.token })).json;
    expect(
      users.filter((u: { username: string }) => u.username.toLowerCase() === "leo").map((u: { id: number }) => u.id),
    ).toEqual([again.json.id]);
    expect(users.some((u: { id: number }) => u.id === leo.id)).toBe(false);
    expect((await t.request("GET", `/rooms/${lobby}/messages`, { token: mia.token })).json[0].user.id).toBe(leo.id);
  });

  test("admins delete accounts (404 after, and for users; 403 for non-admins); two deleted accounts coexist", async () => {
    const ned = await t.user("ned");
    const oli = await t.user("oli");
    const socket = await connect(await publicRoom("ned-room"), ned.token);
    expect((await t.request("DELETE", `/users/${ned.id}`, { token: oli.token })).status).toBe(403);
    expect((await t.request("DELETE", `/users/${ned.id}`, { token: admin.token })).status).toBe(204);
    expect((await socket.closed).code).toBe(CLOSE.POLICY);
    expect((await t.request("DELETE", `/users/${ned.id}`, { token: admin.token })).status).toBe(404);
    expect(
      (await t.request("PATCH", `/users/${ned.id}`, { token: admin.token, body: { disabled: false } })).status,
    ).toBe(404);
    expect((await t.request("DELETE", "/users/999999", { token: admin.token })).status).toBe(404);
    expect((await t.request("DELETE", `/users/${oli.id}`, { token: admin.token })).status).toBe(204);
    expect((await t.store.findUserById(oli.id))?.username).toBe("deleted user");
    expect((await t.store.findUserById(ned.id))?.status).toBe("deleted");
  });
});

test("the OpenAPI document describes the new routes and the socket's renewal", async () => {
  const doc = (await t.request("GET", "/docs/json")).json;
  expect(Object.keys(doc.paths["/auth/refresh"])).toContain("post");
  expect(Object.keys(doc.paths["/auth/password"])).toContain("post");
  expect(Object.keys(doc.paths["/auth/me"]).sort()).toEqual(["delete", "get"]);
  expect(Object.keys(doc.paths["/users/{id}"]).sort()).toEqual(["delete", "patch"]);
  expect(doc.paths["/auth/refresh"].post.description).toContain("REFRESH_TOKEN_REUSED");
  expect(doc.paths["/ws/{room_id}"].get.description).toContain("auth_ok");
});

describe.skipIf(dialect !== "postgres")(postgresOnly("accounts on two instances"), () => {
  let store: TestStore;
  let servers: ServerProcess[] = [];
  beforeAll(async () => {
    store = await openTestStore();
    const env = { DATABASE_URL: store.scratchUrl! };
    servers = await Promise.all([startServer(env), startServer(env)]);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop("SIGKILL")));
    await store.dispose();
  });

  test("a password change on one instance closes the account's sockets on the other; so does disabling", async () => {
    const [one, two] = [servers[0]!, servers[1]!];
    const boss = await account(one.url, "cluster-boss", "admin");
    const pat = await account(one.url, "cluster-pat");
    const quinn = await account(one.url, "cluster-quinn");
    const quinnId = (await call(one.url, "GET", "/auth/me", undefined, quinn.token)).json.id;
    const room = (await call(one.url, "POST", "/rooms/", { name: "across" }, boss.token)).json.id;
    const open = async (token: string) => {
      const socket = new TestSocket(`ws://127.0.0.1:${two.port}/ws/${room}?token=${token}`);
      sockets.push(socket);
      await socket.opened;
      await socket.nextOfType("active_users");
      return socket;
    };
    const patSocket = await open(pat.token);
    const quinnSocket = await open(quinn.token);

    const changed = await call(
      one.url,
      "POST",
      "/auth/password",
      { current_password: "password123", new_password: "another-password" },
      pat.token,
    );
    expect(changed.status).toBe(200);
    expect((await patSocket.closed).code).toBe(CLOSE.POLICY);
    expect((await call(two.url, "GET", "/auth/me", undefined, pat.token)).status).toBe(401);
    expect((await call(two.url, "GET", "/auth/me", undefined, changed.json.access_token)).status).toBe(200);

    expect((await call(one.url, "PATCH", `/users/${quinnId}`, { disabled: true }, boss.token)).status).toBe(200);
    expect((await quinnSocket.closed).code).toBe(CLOSE.POLICY);
    expect(
      (await call(two.url, "POST", "/auth/login", { username: "cluster-quinn", password: "password123" })).json.code,
    ).toBe("ACCOUNT_DISABLED");
  }, 30_000);
});
