// Refresh tokens: random, stored only as SHA-256 hashes, rotated on every use, in families (one per login).
import { createHash } from "node:crypto";

export const REFRESH_LIMITS = {
  /** Each refresh token lives this long from its issue; using it issues the next (so: 30 days idle). */
  ttlMs: 30 * 24 * 60 * 60_000,
  /**
   * A token presented again within this long after it was spent is answered 401 REFRESH_TOKEN_SPENT without
   * revoking its family: two tabs refreshing at once is not theft. Later, it is reuse and revokes the family.
   */
  graceMs: 10_000,
  /** Longer strings are refused before hashing (a token is 43 characters). */
  maxLength: 128,
} as const;

const randomText = (bytes: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("base64url");

/** A new refresh token: 32 random bytes, base64url. */
export const newRefreshToken = () => randomText(32);
export const newFamilyId = () => randomText(16);
/** What the store keeps of a token. */
export const hashRefreshToken = (token: string) => createHash("sha256").update(token).digest("base64url");
