// Migrations: applied at start (one instance at a time), and checked by readiness.
import type postgres from "postgres";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrations } from "../../../drizzle/postgres/index.ts";
import { applyMigrations, latestMigrationMillis } from "../migrations.ts";
import { connectPostgres } from "./connect.ts";
import { MIGRATION_LOCK } from "./locks.ts";
import { indexBacklog } from "./search-index.ts";

export async function migratePostgres(url: string): Promise<void> {
  const client = connectPostgres(url, { max: 1 });
  try {
    await client`SELECT pg_advisory_lock(${MIGRATION_LOCK})`;
    await applyMigrations(drizzle(client), migrations);
    await indexBacklog(client);
  } finally {
    await client.end();
  }
}

/** True when the database records every migration this program embeds (or a newer one). */
export async function migrationsApplied(client: postgres.Sql): Promise<boolean> {
  const [table] = await client`SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS present`;
  if (!table?.present) return false;
  const [row] = await client`SELECT max(created_at) AS at FROM drizzle.__drizzle_migrations`;
  return Number(row?.at ?? 0) >= latestMigrationMillis(migrations);
}
