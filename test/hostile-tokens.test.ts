// Hostile tokens at both doors: each is refused with its reason at the HTTP guard (GET /auth/me) and at the
// WebSocket handshake (401 before any upgrade), including valid tokens of revoked and deleted users.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CACHE_TTL_MS } from "../src/app.ts";
import { createTestApp, dialect, jsonOrUndefined, TEST_SECRET, testClock, type TestApp } from "./support.ts";
import { TestSocket } from "./ws-client.ts";

const OTHER_SECRET = "another-secret-that-is-also-long-enough-0123456789";
const NOW = 1_767_225_600; // seconds; the app's clock is frozen here
const TTL = 1800;
const HEADER = '{"alg":"HS256","typ":"JWT"}';

const encoder = new TextEncoder();
const b64url = (bytes: Uint8Array | string) =>
  Buffer.from(typeof bytes === "string" ? encoder.encode(bytes) : bytes).toString("base64url");

/** Signs raw header and payload strings, so a case controls every byte the server sees. */
async function forge(header: string, payload: string, secret = TEST_SECRET): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${b64url(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(input))))}`;
}

/** alice's id, the `sub` of her tokens. */
let alice = "";
const claims = (overrides: Record<string, unknown> = {}, sub = alice) =>
  JSON.stringify({ sub, role: "user", ver: 0, iat: NOW, exp: NOW + TTL, ...overrides });
const claimsWithout = (key: string) => {
  const value = JSON.parse(claims()) as Record<string, unknown>;
  delete value[key];
  return JSON.stringify(value);
};
const segment = (token: string, index: number, replace: (s: string) => string) => {
  const parts = token.split(".");
  parts[index] = replace(parts[index] ?? "");
  return parts.join(".");
};
const valid = () => forge(HEADER, claims());

let t: TestApp;
const clock = testClock(NOW * 1000);
let base: string;
let roomId: number;
const tokens: Record<string, string> = {};

const me = (token: string) => t.request("GET", "/auth/me", { headers: { authorization: `Bearer ${token}` } });

/** The refused upgrade's status and JSON body (Bun's WebSocket client reports neither). */
async function handshake(token: string): Promise<{ status: number; code?: string }> {
  const response = await fetch(`${base.replace(/^ws/, "http")}/ws/${roomId}?token=${encodeURIComponent(token)}`, {
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": btoa("0123456789abcdef"),
    },
  });
  return { status: response.status, code: jsonOrUndefined(await response.text())?.code as string | undefined };
}

beforeAll(async () => {
  t = await createTestApp({ clock, accessTokenTtlSeconds: TTL });
  t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
  base = `ws://127.0.0.1:${t.app.server!.port}`;
  const admin = await t.user("admin", { role: "admin" });
  alice = String((await t.user("alice")).id);
  roomId = (await t.request("POST", "/rooms/", { token: admin.token, body: { name: "door" } })).json.id;

  const leaver = await t.user("leaver");
  expect((await t.request("POST", "/auth/logout", { token: leaver.token })).status).toBe(204);
  tokens.loggedOut = leaver.token;
  const promoted = await t.user("promoted");
  await t.request("PATCH", `/users/${promoted.id}`, { token: admin.token, body: { role: "admin" } });
  tokens.roleChanged = promoted.token;
  // Deleted behind the server's back, after its token was verified (and so cached) once.
  const doomed = await t.user("doomed");
  expect((await me(doomed.token)).status).toBe(200);
  expect(await t.store.deleteUser(doomed.id)).toBe(true);
  // The cached user still answers until it expires; after that the token speaks for nobody.
  expect((await me(doomed.token)).status).toBe(200);
  clock.advance(CACHE_TTL_MS);
  expect((await me(doomed.token)).status).toBe(401);
  clock.now -= CACHE_TTL_MS;
  tokens.deleted = doomed.token;
});

afterAll(async () => {
  await t.app.stop(true);
  await t.dispose();
});

type Case = [name: string, build: () => Promise<string> | string, code: string];
const cases: Case[] = [
  // Structure and encoding
  ["one segment", () => b64url(HEADER), "TOKEN_MALFORMED"],
  ["two segments", async () => (await valid()).split(".").slice(0, 2).join("."), "TOKEN_MALFORMED"],
  ["four segments", async () => `${await valid()}.AAAA`, "TOKEN_MALFORMED"],
  ["padded base64url signature", async () => `${await valid()}=`, "TOKEN_MALFORMED"],
  ["padded base64url header", async () => segment(await valid(), 0, (s) => `${s}==`), "TOKEN_MALFORMED"],
  ["standard base64 '+' and '/'", async () => segment(await valid(), 2, (s) => `+/${s.slice(2)}`), "TOKEN_MALFORMED"],
  ["impossible base64url length", async () => segment(await valid(), 2, (s) => s.slice(0, 41)), "TOKEN_MALFORMED"],
  ["header not JSON", () => forge("not json", claims()), "TOKEN_MALFORMED"],
  ["header a JSON array", () => forge('["HS256"]', claims()), "TOKEN_MALFORMED"],
  ["payload not JSON, validly signed", () => forge(HEADER, "not json"), "TOKEN_MALFORMED"],
  ["payload a JSON number, validly signed", () => forge(HEADER, "42"), "TOKEN_MALFORMED"],
  ["token of 100 KB", () => forge(HEADER, claims({ pad: "x".repeat(100_000) })), "TOKEN_MALFORMED"],
  // Algorithm and header
  [
    "alg none, empty signature",
    () => `${b64url('{"alg":"none","typ":"JWT"}')}.${b64url(claims())}.`,
    "TOKEN_ALGORITHM",
  ],
  ["alg HS512", () => forge('{"alg":"HS512","typ":"JWT"}', claims()), "TOKEN_ALGORITHM"],
  ["alg RS256", () => forge('{"alg":"RS256","typ":"JWT"}', claims()), "TOKEN_ALGORITHM"],
  ["crit present", () => forge('{"alg":"HS256","typ":"JWT","crit":["exp"]}', claims()), "TOKEN_ALGORITHM"],
  ["typ at+jwt", () => forge('{"alg":"HS256","typ":"at+jwt"}', claims()), "TOKEN_ALGORITHM"],
  // Signature (checked before any claim)
  ["signature cut short", async () => segment(await valid(), 2, (s) => s.slice(0, 40)), "TOKEN_SIGNATURE"],
  ["signature from another secret", () => forge(HEADER, claims(), OTHER_SECRET), "TOKEN_SIGNATURE"],
  [
    "admin role claimed with another secret",
    () => forge(HEADER, claims({ role: "admin" }), OTHER_SECRET),
    "TOKEN_SIGNATURE",
  ],
  [
    "expired and from another secret: signature wins",
    () => forge(HEADER, claims({ exp: NOW - 1 }), OTHER_SECRET),
    "TOKEN_SIGNATURE",
  ],
  // Time
  ["exp in the past", () => forge(HEADER, claims({ exp: NOW - 1 })), "TOKEN_EXPIRED"],
  ["exp == now", () => forge(HEADER, claims({ exp: NOW })), "TOKEN_EXPIRED"],
  ["exp missing", () => forge(HEADER, claimsWithout("exp")), "TOKEN_CLAIMS"],
  ["exp a string", () => forge(HEADER, claims({ exp: String(NOW + TTL) })), "TOKEN_CLAIMS"],
  ["nbf in the future", () => forge(HEADER, claims({ nbf: NOW + 1 })), "TOKEN_CLAIMS"],
  ["iat in the future", () => forge(HEADER, claims({ iat: NOW + 3600 })), "TOKEN_CLAIMS"],
  ["role root", () => forge(HEADER, claims({ role: "root" })), "TOKEN_CLAIMS"],
  // Valid tokens that no longer speak for anyone
  ["issued before a logout", () => tokens.loggedOut!, "TOKEN_REVOKED"],
  ["issued before a role change", () => tokens.roleChanged!, "TOKEN_REVOKED"],
  ["its user deleted from the database", () => tokens.deleted!, "TOKEN_REVOKED"],
  ["a user that never existed", () => forge(HEADER, claims({}, "ghost")), "TOKEN_REVOKED"],
  [
    "an account named by username (sub before it became the id)",
    () => forge(HEADER, claims({}, "alice")),
    "TOKEN_REVOKED",
  ],
  ["an id that is not canonical decimal", () => forge(HEADER, claims({}, `0${alice}`)), "TOKEN_REVOKED"],
  ["a token version the user never had", () => forge(HEADER, claims({ ver: 7 })), "TOKEN_REVOKED"],
];

describe(`hostile tokens at both doors (${dialect})`, () => {
  test("the forged baseline is accepted at both doors, so each refusal below is the one change it makes", async () => {
    const token = await valid();
    expect((await me(token)).json).toMatchObject({ username: "alice" });
    const socket = new TestSocket(`${base}/ws/${roomId}?token=${token}`);
    await socket.opened;
    await socket.close();
  });

  test("no token at all is NOT_AUTHENTICATED at both doors", async () => {
    const http = await t.request("GET", "/auth/me", { headers: { authorization: "Bearer " } });
    expect([http.status, http.json.code]).toEqual([401, "NOT_AUTHENTICATED"]);
    expect(await handshake("")).toEqual({ status: 401, code: "NOT_AUTHENTICATED" });
  });

  const titled = cases.map(([name, build, code]) => [`${name} -> ${code}`, build, code] as const);
  test.each(titled)("%s", async (_title, build, code) => {
    const token = await build();
    const http = await me(token);
    expect(http.status).toBe(401);
    expect(http.json).toMatchObject({ detail: expect.any(String), code });
    expect(http.headers.get("www-authenticate")).toBe("Bearer");

    const ws = await handshake(token);
    if (token.length > 16 * 1024) {
      // Bun refuses a URL this long itself (431) before any route runs; any 4xx is a refusal before the upgrade.
      expect(ws.status).toBeGreaterThanOrEqual(400);
      expect(ws.status).toBeLessThan(500);
    } else {
      expect(ws).toEqual({ status: 401, code });
    }
  });

  test(`${cases.length} hostile tokens in the table`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });
});
