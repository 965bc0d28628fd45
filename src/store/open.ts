// Picks the store adapter from the configured database target.
import type { DatabaseTarget } from "../config.ts";
import { openPostgresStore } from "./postgres/store.ts";
import { openSqliteStore } from "./sqlite/store.ts";
import type { Store } from "./store.ts";

export async function openStore(
  target: DatabaseTarget,
  options: { poolSize?: number; migrate?: boolean; instanceId?: string } = {},
): Promise<Store> {
  return target.kind === "postgres" ? openPostgresStore(target.url, options) : openSqliteStore(target.path, options);
}
