// Turns the embedded drizzle-kit output (drizzle/<dialect>/index.ts) into what Drizzle's migrator applies.
import type { MigrationMeta } from "drizzle-orm/migrator";

export interface EmbeddedMigrations {
  journal: { entries: { tag: string; when: number; breakpoints: boolean }[] };
  sql: Record<string, string>;
}

export function toMigrationMeta({ journal, sql }: EmbeddedMigrations): MigrationMeta[] {
  return journal.entries.map((entry) => {
    const query = sql[entry.tag];
    if (query === undefined) throw new Error(`migration ${entry.tag} is in the journal but not embedded`);
    return {
      sql: query.split("--> statement-breakpoint"),
      bps: entry.breakpoints,
      folderMillis: entry.when,
      hash: new Bun.CryptoHasher("sha256").update(query).digest("hex"),
    };
  });
}

/** The newest migration's timestamp: what a fully migrated database records last. */
export function latestMigrationMillis({ journal }: EmbeddedMigrations): number {
  return Math.max(...journal.entries.map((e) => e.when));
}

/**
 * Drizzle's migrator without its filesystem read: drizzle-orm/bun-sqlite/migrator and postgres-js/migrator are
 * `db.dialect.migrate(readMigrationFiles(config), db.session, config)`, and `dialect` and `session` are internal to
 * Drizzle's types. test/dependency-internals.test.ts fails if those internals or the shape of what
 * readMigrationFiles returns change.
 */
interface Migratable {
  dialect: { migrate(migrations: MigrationMeta[], session: unknown, config: object): unknown };
  session: unknown;
}

export function applyMigrations(db: object, embedded: EmbeddedMigrations): unknown {
  const { dialect, session } = db as Migratable;
  return dialect.migrate(toMigrationMeta(embedded), session, {});
}
