// Access tokens: HS256 JWTs signed and verified on Web Crypto, with verified claims cached until they expire.
import type { Clock } from "../clock.ts";
import type { Role } from "../store/store.ts";

export type { Role };

export interface AccessClaims {
  sub: string;
  role: Role;
  ver: number;
  iat: number;
  exp: number;
  nbf?: number;
}

export type TokenErrorCode =
  | "TOKEN_MALFORMED"
  | "TOKEN_ALGORITHM"
  | "TOKEN_SIGNATURE"
  | "TOKEN_EXPIRED"
  | "TOKEN_CLAIMS";

export class TokenError extends Error {
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "TokenError";
  }
}

export interface TokenCodec {
  /** Signs {sub, role, ver} with iat = now and exp = now + ttlSeconds (seconds since epoch, integers). */
  sign(subject: { sub: string; role: Role; ver: number }): Promise<string>;
  /** Verifies and returns the claims, or throws TokenError. */
  verify(token: string): Promise<AccessClaims>;
  /** How long a signed token lives. */
  readonly ttlSeconds: number;
}

/** Checked before any decoding, so a huge token costs nothing but a length read. */
const MAX_TOKEN_LENGTH = 8 * 1024;
/** Clocks of the issuing and the verifying instance may disagree a little. */
const IAT_SKEW_SECONDS = 60;
const HEADER_SEGMENT = encodeSegment(new TextEncoder().encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
const BASE64URL = /^[A-Za-z0-9_-]*$/;

const encoder = new TextEncoder();
// fatal: invalid UTF-8 is a malformed token, not a string full of U+FFFD.
const decoder = new TextDecoder("utf-8", { fatal: true });

function encodeSegment(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/**
 * Buffer's decoder is lenient (it takes '+', '/', '=' and ignores stray bits), so one token could be
 * spelled many ways; accepting only the spelling that re-encodes to itself keeps exactly one.
 */
function decodeSegment(segment: string, name: string): Uint8Array<ArrayBuffer> {
  if (!BASE64URL.test(segment)) throw malformed(`${name} is not base64url without padding`);
  const bytes = Buffer.from(segment, "base64url");
  if (bytes.toString("base64url") !== segment) throw malformed(`${name} is not canonical base64url`);
  return bytes;
}

function parseObject(bytes: Uint8Array, name: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw malformed(`${name} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed(`${name} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function malformed(message: string): TokenError {
  return new TokenError("TOKEN_MALFORMED", message);
}

function invalidClaims(message: string): TokenError {
  return new TokenError("TOKEN_CLAIMS", message);
}

function checkHeader(header: Record<string, unknown>): void {
  // Pinning the algorithm is what stops "alg: none" and key-confusion attacks.
  if (header.alg !== "HS256") throw new TokenError("TOKEN_ALGORITHM", "alg must be HS256");
  // RFC 7515 4.1.11: a recipient that does not understand a critical extension must reject the token.
  if (Object.hasOwn(header, "crit")) throw new TokenError("TOKEN_ALGORITHM", "crit extensions are not supported");
  // Another typ (at+jwt, a refresh token type, ...) is a different kind of token, not an access token.
  if (Object.hasOwn(header, "typ") && header.typ !== "JWT") throw new TokenError("TOKEN_ALGORITHM", "typ must be JWT");
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** Copies only the claims we know, so callers never see (or depend on) anything else a token carried. */
function readClaims(payload: Record<string, unknown>, now: number): AccessClaims {
  const { sub, role, ver, iat, exp, nbf } = payload;
  if (!isFiniteNumber(exp)) throw invalidClaims("exp must be a number");
  // RFC 7519 makes iat optional; here it is required because AccessClaims promises it and sign() always sets it.
  if (!isFiniteNumber(iat)) throw invalidClaims("iat must be a number");
  if (iat > now + IAT_SKEW_SECONDS) throw invalidClaims("iat is in the future");
  if (nbf !== undefined && !isFiniteNumber(nbf)) throw invalidClaims("nbf must be a number");
  if (typeof sub !== "string" || sub === "") throw invalidClaims("sub must be a non-empty string");
  if (role !== "admin" && role !== "user") throw invalidClaims("role must be admin or user");
  if (!Number.isSafeInteger(ver) || (ver as number) < 0) throw invalidClaims("ver must be a non-negative integer");
  const claims: AccessClaims = { sub, role, ver: ver as number, iat, exp };
  if (nbf !== undefined) claims.nbf = nbf;
  checkTime(claims, now);
  // Frozen because the same object is handed out on every cache hit.
  return Object.freeze(claims);
}

/** The part of verification that depends on the clock, so it runs again on every cache hit. */
function checkTime(claims: AccessClaims, now: number): void {
  if (claims.nbf !== undefined && claims.nbf > now) throw invalidClaims("token is not valid yet (nbf)");
  if (now >= claims.exp) throw new TokenError("TOKEN_EXPIRED", "token has expired");
}

export async function createTokenCodec(options: {
  secret: string;
  ttlSeconds: number;
  clock?: Clock;
  cacheSize?: number;
}): Promise<TokenCodec> {
  const { secret, ttlSeconds, clock = Date.now, cacheSize = 10_000 } = options;
  if (secret === "") throw new Error("JWT secret must not be empty");
  // Integers keep exp an integer NumericDate, as other JWT libraries expect.
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) throw new Error("ttlSeconds must be a positive integer");
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) throw new Error("cacheSize must be a non-negative integer");

  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
  // Verifying the HMAC on every HTTP request costs a factor of 2-3 in throughput; a token's signature
  // never changes, so it is checked once and only the clock-dependent checks repeat.
  const cache = new Map<string, AccessClaims>();
  const nowSeconds = () => Math.floor(clock() / 1000);

  function remember(token: string, claims: AccessClaims): void {
    if (cacheSize === 0) return;
    if (cache.size >= cacheSize) {
      // Map iterates in insertion order, so the first key is the oldest entry.
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    cache.set(token, claims);
  }

  async function sign(subject: { sub: string; role: Role; ver: number }): Promise<string> {
    const iat = nowSeconds();
    const claims = { sub: subject.sub, role: subject.role, ver: subject.ver, iat, exp: iat + ttlSeconds };
    const signingInput = `${HEADER_SEGMENT}.${encodeSegment(encoder.encode(JSON.stringify(claims)))}`;
    const signature = await crypto.subtle.sign("HMAC", key, encoder.encode(signingInput));
    return `${signingInput}.${encodeSegment(new Uint8Array(signature))}`;
  }

  async function verify(token: string): Promise<AccessClaims> {
    if (typeof token !== "string") throw malformed("token must be a string");
    if (token.length > MAX_TOKEN_LENGTH) throw malformed("token is too large");

    const cached = cache.get(token);
    if (cached) {
      try {
        checkTime(cached, nowSeconds());
      } catch (error) {
        if (error instanceof TokenError && error.code === "TOKEN_EXPIRED") cache.delete(token);
        throw error;
      }
      return cached;
    }

    const segments = token.split(".");
    if (segments.length !== 3) throw malformed("token must have three segments");
    const [headerSegment, payloadSegment, signatureSegment] = segments as [string, string, string];
    const headerBytes = decodeSegment(headerSegment, "header");
    const payloadBytes = decodeSegment(payloadSegment, "payload");
    const signature = decodeSegment(signatureSegment, "signature");
    checkHeader(parseObject(headerBytes, "header"));

    // The payload is attacker-controlled until the signature holds, so nothing in it is read before.
    const signingInput = encoder.encode(`${headerSegment}.${payloadSegment}`);
    if (!(await crypto.subtle.verify("HMAC", key, signature, signingInput))) {
      throw new TokenError("TOKEN_SIGNATURE", "signature does not verify");
    }

    const claims = readClaims(parseObject(payloadBytes, "payload"), nowSeconds());
    remember(token, claims);
    return claims;
  }

  return { sign, verify, ttlSeconds };
}
