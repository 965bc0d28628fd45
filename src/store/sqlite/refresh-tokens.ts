// Refresh tokens: stored by hash, spent once each (rotation), revoked by family.
import type { Database } from "bun:sqlite";
import { and, eq, gt, lt, sql } from "drizzle-orm";
import type { NewRefreshToken, RefreshTokenQueries } from "../store.ts";
import type { Db } from "./rows.ts";
import { refreshTokens } from "./schema.ts";

const p = sql.placeholder;

export function refreshTokenQueries(sqlite: Database, db: Db): RefreshTokenQueries {
  const refreshByHash = db
    .select()
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, p("hash")))
    .prepare();
  /** Stores a refresh token and drops the user's expired (or revoked) ones. */
  const insertRefresh = (token: NewRefreshToken) => {
    db.delete(refreshTokens)
      .where(and(eq(refreshTokens.userId, token.userId), lt(refreshTokens.expiresAt, token.createdAt)))
      .run();
    db.insert(refreshTokens)
      .values({
        tokenHash: token.hash,
        familyId: token.familyId,
        userId: token.userId,
        createdAt: token.createdAt,
        expiresAt: token.expiresAt,
      })
      .run();
  };
  const insertRefreshTx = sqlite.transaction(insertRefresh);
  const rotateRefresh = sqlite.transaction((hash: string, next: NewRefreshToken, at: Date) => {
    const spent = db
      .update(refreshTokens)
      .set({ spentAt: at })
      .where(
        and(eq(refreshTokens.tokenHash, hash), sql`${refreshTokens.spentAt} IS NULL`, gt(refreshTokens.expiresAt, at)),
      )
      .returning({ hash: refreshTokens.tokenHash })
      .get();
    if (spent) insertRefresh(next);
    return spent !== undefined;
  });

  return {
    async insertRefreshToken(token) {
      insertRefreshTx(token);
    },
    async findRefreshToken(hash) {
      const row = refreshByHash.get({ hash });
      return (
        row && {
          hash: row.tokenHash,
          familyId: row.familyId,
          userId: row.userId,
          createdAt: row.createdAt,
          expiresAt: row.expiresAt,
          spentAt: row.spentAt,
        }
      );
    },
    async rotateRefreshToken(hash, next, at) {
      return rotateRefresh(hash, next, at);
    },
    async revokeRefreshFamily(familyId) {
      db.update(refreshTokens)
        .set({ expiresAt: new Date(0) })
        .where(eq(refreshTokens.familyId, familyId))
        .run();
    },
  };
}
