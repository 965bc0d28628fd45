// Accounts under attack: login throttling per (username, address) and per address, no user enumeration by answer or
// timing, long passwords kept whole, and oversized bodies refused before parsing or hashing.
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { LOGIN_LIMITS } from "../src/auth/rate-limit.ts";
import { MAX_REQUEST_BODY_BYTES } from "../src/body-limit.ts";
import { createTestApp, dialect, testClock, type TestApp } from "./support.ts";

const clock = testClock();
let t: TestApp;
let base: string;
beforeAll(async () => {
  t = await createTestApp({ clock });
  t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
  base = `http://127.0.0.1:${t.app.server!.port}`;
});
afterAll(async () => {
  await t.app.stop(true);
  await t.dispose();
});

const login = (username: string, password: string) =>
  t.request("POST", "/auth/login", { body: { username, password } });
/** A login over the socket, where the client address is known (127.0.0.1). */
const loginOverTcp = async (username: string, password: string) => {
  const response = await fetch(`${base}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  return { status: response.status, headers: response.headers, json: await response.json() };
};

describe(`login throttling (${dialect})`, () => {
  test(`${LOGIN_LIMITS.pairFailures} failures lock a username at that address for its window, even against the right password`, async () => {
    const victim = await t.user("victim");
    for (let i = 0; i < LOGIN_LIMITS.pairFailures; i++) expect((await login("victim", `wrong-${i}`)).status).toBe(401);
    for (const password of ["wrong-again", victim.password]) {
      const locked = await login("victim", password);
      expect(locked.status).toBe(429);
      expect(locked.json).toEqual({ detail: expect.any(String), code: "RATE_LIMITED" });
      expect(Number(locked.headers.get("retry-after"))).toBe(LOGIN_LIMITS.pairWindowMs / 1000);
    }
    // Another username is not affected, and neither is the owner at another address.
    expect((await login("ghost-user", "whatever1")).status).toBe(401);
    expect(await t.auth.login("victim", victim.password, "198.51.100.20")).toMatchObject({
      access_token: expect.any(String),
    });
    clock.advance(LOGIN_LIMITS.pairWindowMs);
    expect((await login("victim", victim.password)).status).toBe(200);
  });

  test("an unknown username is locked the same way, so the lock says nothing about who exists", async () => {
    for (let i = 0; i < LOGIN_LIMITS.pairFailures; i++)
      expect((await login("nobody-here", `guess-${i}`)).status).toBe(401);
    expect((await login("nobody-here", "guess")).status).toBe(429);
    clock.advance(LOGIN_LIMITS.pairWindowMs);
  });

  test("a successful login clears the failures of its username at its address", async () => {
    const user = await t.user("forgetful");
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < LOGIN_LIMITS.pairFailures - 1; i++)
        expect((await login("forgetful", "not-it-123")).status).toBe(401);
      expect((await login("forgetful", user.password)).status).toBe(200);
    }
    clock.advance(LOGIN_LIMITS.usernameWindowMs); // give the shared in-process address and username budgets back
  });

  test(`${LOGIN_LIMITS.addressFailures} failures from one address lock it; a success there does not clear them`, async () => {
    const user = await t.user("neighbour");
    for (let i = 0; i < LOGIN_LIMITS.addressFailures - 1; i++) {
      // A different username each time: spraying names does not dodge the address limit.
      expect((await loginOverTcp(`spray-${i}`, "password1")).status).toBe(401);
    }
    expect((await loginOverTcp("neighbour", user.password)).status).toBe(200);
    expect((await loginOverTcp("spray-last", "password1")).status).toBe(401); // the 30th failure
    const locked = await loginOverTcp("neighbour", user.password);
    expect(locked.status).toBe(429);
    expect(locked.json.code).toBe("RATE_LIMITED");
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    // app.handle has no socket and so no address: it has its own budget, untouched by 127.0.0.1's.
    expect((await login("neighbour", user.password)).status).toBe(200);
    clock.advance(LOGIN_LIMITS.addressWindowMs);
    expect((await loginOverTcp("neighbour", user.password)).status).toBe(200);
  });
});

describe(`credentials (${dialect})`, () => {
  test("an unknown user and a wrong password get the same answer in about the same time", async () => {
    await t.user("timed");
    const time = async (username: string) => {
      const started = performance.now();
      const response = await login(username, "not-the-password");
      const elapsed = performance.now() - started;
      expect(response.status).toBe(401);
      return { elapsed, body: response.text, challenge: response.headers.get("www-authenticate") };
    };
    await time("timed"); // warm-up: the dummy hash for unknown users is made on first use
    await time("absent");
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 7; i++) {
      const a = await time("timed");
      const b = await time(`absent-${i}`);
      expect(b.body).toBe(a.body);
      expect(b.challenge).toBe(a.challenge);
      known.push(a.elapsed);
      unknown.push(b.elapsed);
    }
    // Medians: one garbage collection during one try must not decide the test.
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const ratio = median(unknown) / median(known);
    console.log(
      JSON.stringify({
        test: "login timing",
        knownMs: +median(known).toFixed(2),
        unknownMs: +median(unknown).toFixed(2),
        ratio: +ratio.toFixed(2),
      }),
    );
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
    clock.advance(LOGIN_LIMITS.pairWindowMs);
  });

  test("passwords that differ only after byte 72 are different passwords", async () => {
    const password = `${"p".repeat(72)}${"a".repeat(28)}`; // 100 bytes; bcrypt alone would read only 72
    const signup = await t.request("POST", "/auth/signup", {
      body: { username: "longpass", email: "longpass@example.com", password },
    });
    expect(signup.status).toBe(201);
    expect((await login("longpass", `${"p".repeat(72)}${"b".repeat(28)}`)).status).toBe(401);
    expect((await login("longpass", "p".repeat(72))).status).toBe(401);
    expect((await login("longpass", password)).status).toBe(200);
  });
});

describe(`request body limit (${dialect})`, () => {
  const oversized = JSON.stringify({
    username: "huge",
    email: "huge@example.com",
    password: "x".repeat(MAX_REQUEST_BODY_BYTES),
  });
  const chunked = (text: string) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        const bytes = new TextEncoder().encode(text);
        for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
        controller.close();
      },
    });

  test("app.handle: a body over 64 KiB is 413 before it is parsed or hashed; one at the limit is parsed", async () => {
    const hash = spyOn(Bun.password, "hash");
    try {
      const refused = await t.request("POST", "/auth/signup", { body: oversized });
      expect(refused.status).toBe(413);
      expect(refused.json).toEqual({ detail: "Request body too large", code: "BODY_TOO_LARGE" });
      const declared = await t.request("POST", "/auth/signup", {
        body: "{}",
        headers: { "content-length": String(MAX_REQUEST_BODY_BYTES + 1) },
      });
      expect(declared.status).toBe(413);
      expect(hash).not.toHaveBeenCalled();
    } finally {
      hash.mockRestore();
    }
    const atLimit = `{"content":"${"y".repeat(MAX_REQUEST_BODY_BYTES - 14)}"}`;
    expect(atLimit.length).toBe(MAX_REQUEST_BODY_BYTES);
    const parsed = await t.request("POST", "/rooms/1/messages", {
      body: atLimit,
      token: (await t.user("bodyuser")).token,
    });
    expect(parsed.status).toBe(422); // parsed and validated: content too long, not 413
  });

  test("listening without Bun's limit: 413 with a declared length and with a chunked body", async () => {
    for (const body of [oversized, chunked(oversized)]) {
      const response = await fetch(`${base}/auth/signup`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      expect(response.status).toBe(413);
      expect((await response.json()).code).toBe("BODY_TOO_LARGE");
    }
  });

  test("listening with main.ts's maxRequestBodySize: Bun refuses both with 413", async () => {
    const limited = await createTestApp();
    limited.app.listen({
      port: 0,
      hostname: "127.0.0.1",
      reusePort: false,
      maxRequestBodySize: MAX_REQUEST_BODY_BYTES,
    });
    try {
      const url = `http://127.0.0.1:${limited.app.server!.port}/auth/signup`;
      for (const body of [oversized, chunked(oversized)]) {
        const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
        expect(response.status).toBe(413);
      }
      expect((await fetch(url.replace("/auth/signup", "/health"))).status).toBe(200);
    } finally {
      await limited.app.stop(true);
      await limited.dispose();
    }
  });
});
