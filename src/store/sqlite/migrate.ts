// Migrations: applied when the store opens, and checked by readiness.
import type { Database } from "bun:sqlite";
import { migrations } from "../../../drizzle/sqlite/index.ts";
import { applyMigrations, latestMigrationMillis } from "../migrations.ts";
import type { Db } from "./rows.ts";

export function migrateSqlite(db: Db): void {
  applyMigrations(db, migrations);
}

/** True when the database records every migration this program embeds (or a newer one). */
export function migrationsApplied(sqlite: Database): boolean {
  const table = sqlite
    .query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'")
    .get();
  if (!table) return false;
  const row = sqlite.query("SELECT max(created_at) AS at FROM __drizzle_migrations").get() as { at: number | null };
  return Number(row.at ?? 0) >= latestMigrationMillis(migrations);
}
