// Refresh tokens: stored by hash, spent once each (rotation), revoked by family.
import type postgres from "postgres";
import type { NewRefreshToken, RefreshTokenRecord, RefreshTokenQueries } from "../store.ts";

export function refreshTokenQueries(client: postgres.Sql): RefreshTokenQueries {
  return {
    async insertRefreshToken(token) {
      await client.begin((tx) => insertRefresh(tx, token));
    },
    async findRefreshToken(hash) {
      const [row] = await client<
        RefreshRow[]
      >`SELECT ${client.unsafe(REFRESH_COLUMNS)} FROM refresh_tokens WHERE token_hash = ${hash}`;
      return row && toRefresh(row);
    },
    async rotateRefreshToken(hash, next, at) {
      return client.begin(async (tx) => {
        // Of concurrent refreshes with one token, the row lock lets one UPDATE through; the others then see it spent.
        const spent = await tx`
          UPDATE refresh_tokens SET spent_at = to_timestamp(${at.getTime()} / 1000.0)
          WHERE token_hash = ${hash} AND spent_at IS NULL AND expires_at > to_timestamp(${at.getTime()} / 1000.0)
          RETURNING token_hash`;
        if (spent.length > 0) await insertRefresh(tx, next);
        return spent.length > 0;
      }) as Promise<boolean>;
    },
    async revokeRefreshFamily(familyId) {
      await client`UPDATE refresh_tokens SET expires_at = to_timestamp(0) WHERE family_id = ${familyId}`;
    },
  };
}

interface RefreshRow {
  token_hash: string;
  family_id: string;
  user_id: number;
  created_ms: number;
  expires_ms: number;
  spent_ms: number | null;
}

const REFRESH_COLUMNS = `token_hash, family_id, user_id, round(extract(epoch FROM created_at) * 1000)::float8 AS created_ms,
  round(extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms, round(extract(epoch FROM spent_at) * 1000)::float8 AS spent_ms`;

function toRefresh(row: RefreshRow): RefreshTokenRecord {
  return {
    hash: row.token_hash,
    familyId: row.family_id,
    userId: row.user_id,
    createdAt: new Date(row.created_ms),
    expiresAt: new Date(row.expires_ms),
    spentAt: row.spent_ms === null ? null : new Date(row.spent_ms),
  };
}

/** Stores a refresh token and drops the user's expired (or revoked) ones. */
async function insertRefresh(tx: postgres.TransactionSql, token: NewRefreshToken): Promise<void> {
  const ts = (d: Date) => d.getTime() / 1000;
  await tx`DELETE FROM refresh_tokens WHERE user_id = ${token.userId} AND expires_at < to_timestamp(${ts(token.createdAt)})`;
  await tx`INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at)
           VALUES (${token.hash}, ${token.familyId}, ${token.userId}, to_timestamp(${ts(token.createdAt)}), to_timestamp(${ts(token.expiresAt)}))`;
}
