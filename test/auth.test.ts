// Accounts over HTTP: the seed's bodies and status codes, the admin rule, revocation, and bad input.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestApp, dialect, type TestApp } from "./support.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.dispose());

describe(`accounts (${dialect})`, () => {
  let adminToken: string;

  test("the first account may claim admin (the seed README's walk-through)", async () => {
    const signup = await t.request("POST", "/auth/signup", {
      body: { username: "admin", email: "admin@example.com", password: "adminpass123", role: "admin" },
    });
    expect(signup.status).toBe(201);
    expect(signup.json).toEqual({
      id: expect.any(Number),
      username: "admin",
      email: "admin@example.com",
      role: "admin",
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    const login = await t.request("POST", "/auth/login", { body: { username: "admin", password: "adminpass123" } });
    expect(login.status).toBe(200);
    expect(login.json).toEqual({
      access_token: expect.any(String),
      token_type: "bearer",
      expires_in: 1800,
      refresh_token: expect.any(String),
    });
    adminToken = login.json.access_token;
    const me = await t.request("GET", "/auth/me", { token: adminToken });
    expect(me.status).toBe(200);
    expect(me.json).toEqual(signup.json);
  });

  test("after the first account, claiming admin without an admin token is 403 (seed defect 1)", async () => {
    const selfMade = await t.request("POST", "/auth/signup", {
      body: { username: "mallory", email: "mallory@example.com", password: "password123", role: "admin" },
    });
    expect(selfMade.status).toBe(403);
    expect(selfMade.json.detail).toBeString();
    const user = await t.user("plainuser");
    const byUser = await t.request("POST", "/auth/signup", {
      body: { username: "mallory", email: "mallory@example.com", password: "password123", role: "admin" },
      token: user.token,
    });
    expect(byUser.status).toBe(403);
    const byAdmin = await t.request("POST", "/auth/signup", {
      body: { username: "deputy", email: "deputy@example.com", password: "password123", role: "admin" },
      token: adminToken,
    });
    expect(byAdmin.status).toBe(201);
    expect(byAdmin.json.role).toBe("admin");
    expect(
      (
        await t.request("POST", "/auth/signup", {
          body: { username: "mallory", email: "m2@example.com", password: "password123" },
        })
      ).json.role,
    ).toBe("user");
  });

  test("duplicates: username is checked before email, as the seed", async () => {
    const both = await t.request("POST", "/auth/signup", {
      body: { username: "admin", email: "admin@example.com", password: "password123" },
    });
    expect(both.status).toBe(400);
    expect(both.json.detail).toBe("Username already registered");
    const email = await t.request("POST", "/auth/signup", {
      body: { username: "fresh", email: "admin@example.com", password: "password123" },
    });
    expect(email.status).toBe(400);
    expect(email.json.detail).toBe("Email already registered");
  });

  test("wrong credentials: 401 with WWW-Authenticate, the same for an unknown user", async () => {
    for (const body of [
      { username: "admin", password: "wrong-password" },
      { username: "ghost", password: "whatever1" },
    ]) {
      const response = await t.request("POST", "/auth/login", { body });
      expect(response.status).toBe(401);
      expect(response.json.detail).toBe("Incorrect username or password");
      expect(response.headers.get("www-authenticate")).toBe("Bearer");
    }
  });

  test("no token is 401 Not authenticated; a bad one is 401 Could not validate credentials", async () => {
    const none = await t.request("GET", "/auth/me");
    expect(none.status).toBe(401);
    expect(none.json.detail).toBe("Not authenticated");
    const bad = await t.request("GET", "/auth/me", { token: "not.a.token" });
    expect(bad.status).toBe(401);
    expect(bad.json).toMatchObject({ detail: "Could not validate credentials", code: "TOKEN_MALFORMED" });
    const wrongScheme = await t.request("GET", "/auth/me", { headers: { authorization: `Basic ${adminToken}` } });
    expect(wrongScheme.status).toBe(401);
  });

  test("admins list users and change roles; a role change revokes the user's earlier tokens", async () => {
    const carol = await t.user("carol");
    const list = await t.request("GET", "/users", { token: adminToken });
    expect(list.status).toBe(200);
    expect(list.json.map((u: { username: string }) => u.username)).toContain("carol");
    expect((await t.request("GET", "/users", { token: carol.token })).status).toBe(403);
    expect((await t.request("GET", "/users", { token: carol.token })).json.detail).toBe("Not enough permissions");

    const promoted = await t.request("PATCH", `/users/${carol.id}`, { token: adminToken, body: { role: "admin" } });
    expect(promoted.status).toBe(200);
    expect(promoted.json.role).toBe("admin");
    const stale = await t.request("GET", "/auth/me", { token: carol.token });
    expect(stale.status).toBe(401);
    expect(stale.json.code).toBe("TOKEN_REVOKED");
    const relogin = await t.request("POST", "/auth/login", { body: { username: "carol", password: carol.password } });
    expect((await t.request("GET", "/users", { token: relogin.json.access_token })).status).toBe(200);

    expect((await t.request("PATCH", "/users/999999", { token: adminToken, body: { role: "user" } })).status).toBe(404);
    expect((await t.request("PATCH", `/users/${carol.id}`, { token: adminToken, body: { role: "root" } })).status).toBe(
      422,
    );
  });

  test("logout revokes every earlier token of that user at once", async () => {
    const dave = await t.user("dave");
    const second = await t.request("POST", "/auth/login", { body: { username: "dave", password: dave.password } });
    expect((await t.request("POST", "/auth/logout", { token: dave.token })).status).toBe(204);
    expect((await t.request("GET", "/auth/me", { token: dave.token })).status).toBe(401);
    expect((await t.request("GET", "/auth/me", { token: second.json.access_token })).status).toBe(401);
    const fresh = await t.request("POST", "/auth/login", { body: { username: "dave", password: dave.password } });
    expect((await t.request("GET", "/auth/me", { token: fresh.json.access_token })).status).toBe(200);
  });

  test("permissions come from the stored role, not the token's claim", async () => {
    const erin = await t.user("erin");
    // A token signed while erin was a user keeps role "user" in its claims; promoting her bumps the version,
    // so the only way to act as admin is a new token — and demotion takes effect at once too.
    await t.request("PATCH", `/users/${erin.id}`, { token: adminToken, body: { role: "admin" } });
    const adminLogin = await t.request("POST", "/auth/login", { body: { username: "erin", password: erin.password } });
    await t.request("PATCH", `/users/${erin.id}`, { token: adminToken, body: { role: "user" } });
    expect((await t.request("GET", "/users", { token: adminLogin.json.access_token })).status).toBe(401);
  });

  describe("bad input is a clear 4xx with a detail, never a 500", () => {
    const cases: [string, unknown, number][] = [
      ["malformed JSON", "{not json", 422],
      ["an array", [], 422],
      ["missing fields", { username: "x" }, 422],
      ["wrong types", { username: 5, email: true, password: null }, 422],
      ["bad email", { username: "okname", email: "not-an-email", password: "password123" }, 422],
      ["short password", { username: "okname", email: "ok@example.com", password: "short" }, 422],
      ["overlong password", { username: "okname", email: "ok@example.com", password: "x".repeat(129) }, 422],
      ["overlong username", { username: "u".repeat(33), email: "ok@example.com", password: "password123" }, 422],
      ["username with spaces", { username: "a b c", email: "ok@example.com", password: "password123" }, 422],
      ["unknown role", { username: "okname", email: "ok@example.com", password: "password123", role: "root" }, 422],
    ];
    for (const [name, body, status] of cases) {
      test(`signup with ${name} -> ${status}`, async () => {
        const response = await t.request("POST", "/auth/signup", { body });
        expect(response.status).toBe(status);
        expect(response.json.detail).toBeDefined();
      });
    }
    test("login takes JSON (and, for OAuth-style clients, a form); malformed JSON -> 422", async () => {
      const form = await t.request("POST", "/auth/login", {
        body: "username=admin&password=adminpass123",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expect(form.status).toBe(200);
      const broken = await t.request("POST", "/auth/login", { body: '{"username": "admin", ' });
      expect(broken.status).toBe(422);
      expect(broken.json.detail).toBeArray();
    });
    test("bad user id -> 422", async () => {
      for (const id of ["abc", "0", "-1", "1.5", "99999999999"]) {
        const response = await t.request("PATCH", `/users/${id}`, { token: adminToken, body: { role: "user" } });
        expect(response.status).toBe(422);
      }
    });
  });
});

describe(`the first admin (${dialect})`, () => {
  let fresh: TestApp;
  beforeAll(async () => {
    fresh = await createTestApp();
  });
  afterAll(() => fresh.dispose());

  test("GET /auth/setup says whether an admin exists; until one does, anyone may sign up as admin", async () => {
    expect((await fresh.request("GET", "/auth/setup")).json).toEqual({ admin_exists: false });
    // Plain accounts made first (say, in the browser before this rule) do not close the door.
    await fresh.user("early-bird");
    expect((await fresh.request("GET", "/auth/setup")).json).toEqual({ admin_exists: false });
    const first = await fresh.user("founder", { role: "admin" });
    expect(first.role).toBe("admin");
    expect((await fresh.request("GET", "/auth/setup")).json).toEqual({ admin_exists: true });
    const late = await fresh.request("POST", "/auth/signup", {
      body: { username: "latecomer", email: "latecomer@example.com", password: "password123", role: "admin" },
    });
    expect(late.status).toBe(403);
    const documented = (await fresh.request("GET", "/docs/json")).json.paths["/auth/setup"].get;
    expect(documented.responses["200"].content["application/json"].schema.properties.admin_exists.type).toBe("boolean");
  });
});
