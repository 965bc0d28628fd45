// The HS256 codec: a round trip, the cache, and hostile tokens each refused with its exact code.
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { createTokenCodec, TokenError, type TokenErrorCode } from "../src/auth/jwt.ts";

const SECRET = "test-secret-that-is-at-least-32-bytes-long";
const OTHER_SECRET = "another-secret-that-is-also-32-bytes-long";
const NOW = 1_700_000_000; // seconds; the frozen clock reads NOW * 1000 unless a test moves it
const TTL = 900;
const HEADER = '{"alg":"HS256","typ":"JWT"}';

const encoder = new TextEncoder();
const b64url = (bytes: Uint8Array | string) =>
  Buffer.from(typeof bytes === "string" ? encoder.encode(bytes) : bytes).toString("base64url");

/** Signs raw header and payload strings, so a test controls every byte the verifier sees. */
async function forge(header: string, payload: string, secret = SECRET): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(input)));
  return `${input}.${b64url(signature)}`;
}

const claims = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({ sub: "alice", role: "user", ver: 0, iat: NOW, exp: NOW + TTL, ...overrides });

const claimsWithout = (key: string) => {
  const value = JSON.parse(claims()) as Record<string, unknown>;
  delete value[key];
  return JSON.stringify(value);
};

function frozenClock(seconds = NOW) {
  const clock = { ms: seconds * 1000, now: () => clock.ms };
  return clock;
}

async function codec(options: { seconds?: number; cacheSize?: number } = {}) {
  const clock = frozenClock(options.seconds);
  const tokens = await createTokenCodec({
    secret: SECRET,
    ttlSeconds: TTL,
    clock: clock.now,
    cacheSize: options.cacheSize,
  });
  return { tokens, clock };
}

async function expectCode(promise: Promise<unknown>, code: TokenErrorCode) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenError);
  expect((error as TokenError).code).toBe(code);
}

/** The last character of a segment whose length is not a multiple of 4 carries unused low bits. */
function flipUnusedBit(segment: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const last = alphabet.indexOf(segment.at(-1) ?? "");
  return segment.slice(0, -1) + alphabet[last ^ 1];
}

function replaceSegment(token: string, index: number, replace: (segment: string) => string): string {
  const segments = token.split(".");
  segments[index] = replace(segments[index] ?? "");
  return segments.join(".");
}

/** Changes one character in the middle of a segment; every bit of a non-final character is used. */
function tamper(segment: string): string {
  const i = Math.floor(segment.length / 2);
  return segment.slice(0, i) + (segment[i] === "A" ? "B" : "A") + segment.slice(i + 1);
}

describe("sign and verify", () => {
  test("round trip returns the subject with iat = now and exp = now + ttl", async () => {
    const { tokens } = await codec();
    const token = await tokens.sign({ sub: "alice", role: "admin", ver: 3 });
    expect(await tokens.verify(token)).toEqual({ sub: "alice", role: "admin", ver: 3, iat: NOW, exp: NOW + TTL });
  });

  test("the header is exactly HS256/JWT and the time claims are integer seconds", async () => {
    const clock = frozenClock();
    clock.ms += 999; // a fraction of a second must not leak into iat/exp
    const tokens = await createTokenCodec({ secret: SECRET, ttlSeconds: TTL, clock: clock.now });
    const [header, payload] = (await tokens.sign({ sub: "bob", role: "user", ver: 0 })).split(".");
    expect(Buffer.from(header ?? "", "base64url").toString()).toBe(HEADER);
    expect(JSON.parse(Buffer.from(payload ?? "", "base64url").toString())).toEqual({
      sub: "bob",
      role: "user",
      ver: 0,
      iat: NOW,
      exp: NOW + TTL,
    });
  });

  test("accepts a header without typ, nbf in the past, and iat within the clock skew allowance", async () => {
    const { tokens } = await codec();
    expect((await tokens.verify(await forge('{"alg":"HS256"}', claims()))).sub).toBe("alice");
    expect((await tokens.verify(await forge(HEADER, claims({ nbf: NOW })))).nbf).toBe(NOW);
    expect((await tokens.verify(await forge(HEADER, claims({ iat: NOW + 60 })))).iat).toBe(NOW + 60);
  });

  test("returns only the known claims", async () => {
    const { tokens } = await codec();
    const verified = await tokens.verify(await forge(HEADER, claims({ admin: true, jti: "x" })));
    expect(Object.keys(verified).sort()).toEqual(["exp", "iat", "role", "sub", "ver"]);
  });

  test("a token signed by another codec with the same secret verifies; another secret does not", async () => {
    const { tokens } = await codec();
    const same = await createTokenCodec({ secret: SECRET, ttlSeconds: TTL, clock: frozenClock().now });
    const other = await createTokenCodec({ secret: OTHER_SECRET, ttlSeconds: TTL, clock: frozenClock().now });
    expect((await tokens.verify(await same.sign({ sub: "a", role: "user", ver: 0 }))).sub).toBe("a");
    await expectCode(tokens.verify(await other.sign({ sub: "a", role: "user", ver: 0 })), "TOKEN_SIGNATURE");
  });

  test("rejects bad options", async () => {
    await expect(createTokenCodec({ secret: "", ttlSeconds: TTL })).rejects.toThrow();
    await expect(createTokenCodec({ secret: SECRET, ttlSeconds: 0 })).rejects.toThrow();
    await expect(createTokenCodec({ secret: SECRET, ttlSeconds: 1.5 })).rejects.toThrow();
    await expect(createTokenCodec({ secret: SECRET, ttlSeconds: TTL, cacheSize: -1 })).rejects.toThrow();
  });
});

describe("hostile tokens", () => {
  // Built lazily: forging is async, and each case needs a fresh token.
  const cases: [name: string, build: () => Promise<string> | string, code: TokenErrorCode][] = [
    // Size and structure
    ["empty string", () => "", "TOKEN_MALFORMED"],
    ["one segment", () => b64url(HEADER), "TOKEN_MALFORMED"],
    ["two segments", async () => (await forge(HEADER, claims())).split(".").slice(0, 2).join("."), "TOKEN_MALFORMED"],
    ["four segments", async () => `${await forge(HEADER, claims())}.AAAA`, "TOKEN_MALFORMED"],
    ["token of 100 KB", async () => forge(HEADER, claims({ pad: "x".repeat(100_000) })), "TOKEN_MALFORMED"],
    ["padded base64url signature", async () => `${await forge(HEADER, claims())}=`, "TOKEN_MALFORMED"],
    [
      "padded base64url header",
      async () => replaceSegment(await forge(HEADER, claims()), 0, (s) => `${s}==`),
      "TOKEN_MALFORMED",
    ],
    [
      "standard base64 '+'",
      async () => replaceSegment(await forge(HEADER, claims()), 2, (s) => `+${s.slice(1)}`),
      "TOKEN_MALFORMED",
    ],
    [
      "standard base64 '/'",
      async () => replaceSegment(await forge(HEADER, claims()), 2, (s) => `/${s.slice(1)}`),
      "TOKEN_MALFORMED",
    ],
    [
      "whitespace inside a segment",
      async () => replaceSegment(await forge(HEADER, claims()), 1, (s) => ` ${s}`),
      "TOKEN_MALFORMED",
    ],
    [
      "impossible base64url length (4n+1)",
      async () => replaceSegment(await forge(HEADER, claims()), 2, (s) => s.slice(0, 41)),
      "TOKEN_MALFORMED",
    ],
    [
      "non-canonical trailing bits in the signature",
      async () => replaceSegment(await forge(HEADER, claims()), 2, flipUnusedBit),
      "TOKEN_MALFORMED",
    ],
    ["header not JSON", () => forge("not json", claims()), "TOKEN_MALFORMED"],
    ["header a JSON array", () => forge('["HS256","JWT"]', claims()), "TOKEN_MALFORMED"],
    ["header JSON null", () => forge("null", claims()), "TOKEN_MALFORMED"],
    [
      "header invalid UTF-8",
      async () => replaceSegment(await forge(HEADER, claims()), 0, () => b64url(new Uint8Array([0x7b, 0xff, 0x7d]))),
      "TOKEN_MALFORMED",
    ],
    ["payload not JSON, validly signed", () => forge(HEADER, "not json"), "TOKEN_MALFORMED"],
    ["payload a JSON array, validly signed", () => forge(HEADER, "[1,2,3]"), "TOKEN_MALFORMED"],
    ["payload a JSON string, validly signed", () => forge(HEADER, '"alice"'), "TOKEN_MALFORMED"],
    // Algorithm and header
    [
      "alg none with an empty signature",
      async () => `${b64url('{"alg":"none","typ":"JWT"}')}.${b64url(claims())}.`,
      "TOKEN_ALGORITHM",
    ],
    ["alg missing", () => forge('{"typ":"JWT"}', claims()), "TOKEN_ALGORITHM"],
    ["alg lower case hs256", () => forge('{"alg":"hs256","typ":"JWT"}', claims()), "TOKEN_ALGORITHM"],
    ["alg HS512", () => forge('{"alg":"HS512","typ":"JWT"}', claims()), "TOKEN_ALGORITHM"],
    ["alg RS256", () => forge('{"alg":"RS256","typ":"JWT"}', claims()), "TOKEN_ALGORITHM"],
    ["crit present", () => forge('{"alg":"HS256","typ":"JWT","crit":["exp"]}', claims()), "TOKEN_ALGORITHM"],
    ["typ at+jwt", () => forge('{"alg":"HS256","typ":"at+jwt"}', claims()), "TOKEN_ALGORITHM"],
    // Signature
    [
      "signature cut short",
      async () => replaceSegment(await forge(HEADER, claims()), 2, (s) => s.slice(0, 40)),
      "TOKEN_SIGNATURE",
    ],
    ["signature empty", async () => replaceSegment(await forge(HEADER, claims()), 2, () => ""), "TOKEN_SIGNATURE"],
    ["signature from another secret", () => forge(HEADER, claims(), OTHER_SECRET), "TOKEN_SIGNATURE"],
    [
      "one payload character tampered",
      async () => replaceSegment(await forge(HEADER, claims()), 1, tamper),
      "TOKEN_SIGNATURE",
    ],
    [
      "header swapped for another valid one",
      async () => replaceSegment(await forge(HEADER, claims()), 0, () => b64url('{"typ":"JWT","alg":"HS256"}')),
      "TOKEN_SIGNATURE",
    ],
    [
      "signature errors win: expired and another secret",
      () => forge(HEADER, claims({ exp: NOW - 1 }), OTHER_SECRET),
      "TOKEN_SIGNATURE",
    ],
    [
      "signature errors win: bad claims and another secret",
      () => forge(HEADER, claims({ role: "root" }), OTHER_SECRET),
      "TOKEN_SIGNATURE",
    ],
    [
      "signature errors win: payload not JSON and another secret",
      () => forge(HEADER, "not json", OTHER_SECRET),
      "TOKEN_SIGNATURE",
    ],
    // Expiry
    ["exp in the past", () => forge(HEADER, claims({ exp: NOW - 1 })), "TOKEN_EXPIRED"],
    ["exp == now", () => forge(HEADER, claims({ exp: NOW })), "TOKEN_EXPIRED"],
    // Claims
    ["exp missing", () => forge(HEADER, claimsWithout("exp")), "TOKEN_CLAIMS"],
    ["exp a string", () => forge(HEADER, claims({ exp: String(NOW + TTL) })), "TOKEN_CLAIMS"],
    [
      "exp overflowing to Infinity",
      () => forge(HEADER, claims({ exp: 1 }).replace('"exp":1', '"exp":1e999')),
      "TOKEN_CLAIMS",
    ],
    ["nbf in the future", () => forge(HEADER, claims({ nbf: NOW + 1 })), "TOKEN_CLAIMS"],
    ["nbf a string", () => forge(HEADER, claims({ nbf: String(NOW) })), "TOKEN_CLAIMS"],
    ["iat in the future beyond the skew", () => forge(HEADER, claims({ iat: NOW + 61 })), "TOKEN_CLAIMS"],
    ["iat a string", () => forge(HEADER, claims({ iat: String(NOW) })), "TOKEN_CLAIMS"],
    ["iat missing", () => forge(HEADER, claimsWithout("iat")), "TOKEN_CLAIMS"],
    ["role root", () => forge(HEADER, claims({ role: "root" })), "TOKEN_CLAIMS"],
    ["role missing", () => forge(HEADER, claimsWithout("role")), "TOKEN_CLAIMS"],
    ["ver -1", () => forge(HEADER, claims({ ver: -1 })), "TOKEN_CLAIMS"],
    ["ver 1.5", () => forge(HEADER, claims({ ver: 1.5 })), "TOKEN_CLAIMS"],
    ["ver a string", () => forge(HEADER, claims({ ver: "0" })), "TOKEN_CLAIMS"],
    ["sub empty", () => forge(HEADER, claims({ sub: "" })), "TOKEN_CLAIMS"],
    ["sub a number", () => forge(HEADER, claims({ sub: 42 })), "TOKEN_CLAIMS"],
  ];

  // Titled by hand: bun's %s formatting stops at the builder function in each row.
  const titled = cases.map(([name, build, code]) => [`${name} -> ${code}`, build, code] as const);
  test.each(titled)("%s", async (_title, build, code) => {
    const { tokens } = await codec();
    await expectCode(tokens.verify(await build()), code);
  });

  test("the non-canonical signature decodes to the same bytes as the real one", async () => {
    const signature = (await forge(HEADER, claims())).split(".")[2] ?? "";
    const altered = flipUnusedBit(signature);
    expect(altered).not.toBe(signature);
    expect(Buffer.from(altered, "base64url").equals(Buffer.from(signature, "base64url"))).toBe(true);
  });

  test("a token just over 8 KiB is refused before its signature is checked", async () => {
    const { tokens } = await codec();
    const subtle = spyOn(crypto.subtle, "verify");
    try {
      await expectCode(tokens.verify("a".repeat(8 * 1024 + 1)), "TOKEN_MALFORMED");
      expect(subtle).not.toHaveBeenCalled();
    } finally {
      subtle.mockRestore();
    }
  });
});

describe("cache", () => {
  let restore: (() => void) | undefined;
  afterEach(() => restore?.());

  function countVerifies() {
    const spy = spyOn(crypto.subtle, "verify");
    restore = () => spy.mockRestore();
    return spy;
  }

  test("a token's HMAC is verified once", async () => {
    const { tokens } = await codec();
    const token = await tokens.sign({ sub: "alice", role: "user", ver: 0 });
    const spy = countVerifies();
    const first = await tokens.verify(token);
    const second = await tokens.verify(token);
    expect(second).toEqual(first);
    expect(spy).toHaveBeenCalledTimes(1);
  });

  test("does not keep an expired token valid", async () => {
    const { tokens, clock } = await codec();
    const token = await tokens.sign({ sub: "alice", role: "user", ver: 0 });
    await tokens.verify(token);
    clock.ms = (NOW + TTL) * 1000; // exp == now is expired
    await expectCode(tokens.verify(token), "TOKEN_EXPIRED");
    // Gone from the cache: a clock moved back (say, by NTP) sends it through the full check again.
    const spy = countVerifies();
    clock.ms = NOW * 1000;
    await tokens.verify(token);
    expect(spy).toHaveBeenCalledTimes(1);
  });

  test("re-checks nbf on a hit", async () => {
    const { tokens, clock } = await codec();
    const token = await forge(HEADER, claims({ nbf: NOW }));
    await tokens.verify(token);
    clock.ms -= 1000;
    await expectCode(tokens.verify(token), "TOKEN_CLAIMS");
  });

  test("evicts the oldest entry when full", async () => {
    const { tokens } = await codec({ cacheSize: 2 });
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((sub) => tokens.sign({ sub, role: "user", ver: 0 })));
    const spy = countVerifies();
    for (const token of [a, b, c]) await tokens.verify(token ?? "");
    expect(spy).toHaveBeenCalledTimes(3);
    await tokens.verify(c ?? ""); // still cached
    await tokens.verify(b ?? ""); // still cached
    expect(spy).toHaveBeenCalledTimes(3);
    await tokens.verify(a ?? ""); // evicted when c came in
    expect(spy).toHaveBeenCalledTimes(4);
  });

  test("cacheSize 0 turns the cache off", async () => {
    const { tokens } = await codec({ cacheSize: 0 });
    const token = await tokens.sign({ sub: "alice", role: "user", ver: 0 });
    const spy = countVerifies();
    await tokens.verify(token);
    await tokens.verify(token);
    expect(spy).toHaveBeenCalledTimes(2);
  });

  test("rejected tokens are not cached", async () => {
    const { tokens } = await codec();
    const token = await forge(HEADER, claims(), OTHER_SECRET);
    await expectCode(tokens.verify(token), "TOKEN_SIGNATURE");
    await expectCode(tokens.verify(token), "TOKEN_SIGNATURE");
  });

  test("cached claims cannot be changed by a caller", async () => {
    const { tokens } = await codec();
    const token = await tokens.sign({ sub: "alice", role: "user", ver: 0 });
    const claims = await tokens.verify(token);
    expect(() => {
      (claims as { role: string }).role = "admin";
    }).toThrow();
    expect((await tokens.verify(token)).role).toBe("user");
  });
});
