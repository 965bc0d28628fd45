// The production store: Drizzle on postgres-js, assembled here from one part per concern (accounts.ts,
// rooms.ts, message-batch.ts, ...). Queries are prepared once (postgres-js names and caches them per connection).
import { drizzle } from "drizzle-orm/postgres-js";
import { postgresSearchWorker } from "../../workers.ts";
import { indexerThread } from "../../search/indexer-thread.ts";
import { isStoreUnavailable, type Store } from "../store.ts";
import { accountQueries } from "./accounts.ts";
import { changeLogQueries } from "./change-log.ts";
import { connectPostgres, reconnectDelay } from "./connect.ts";
import { importQueries } from "./import.ts";
import { messageBatches } from "./message-batch.ts";
import { messageQueries } from "./messages.ts";
import { migratePostgres, migrationsApplied } from "./migrate.ts";
import { readPositionQueries } from "./read-positions.ts";
import { refreshTokenQueries } from "./refresh-tokens.ts";
import { roomQueries } from "./rooms.ts";
import { schema } from "./schema.ts";
import { searchQueries } from "./search.ts";

export { migratePostgres };

export interface PostgresStoreOptions {
  migrate?: boolean;
  poolSize?: number;
  /** Who notifies other instances of stored messages (the fanout bus's instance id). */
  instanceId?: string;
}

export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<Store> {
  if (options.migrate !== false) await migratePostgres(url);
  const client = connectPostgres(url, { backoff: reconnectDelay, max: options.poolSize ?? 10 });
  const db = drizzle(client, { schema });
  const search = indexerThread(postgresSearchWorker, { url });
  const batches = messageBatches(url, options.instanceId ?? "single", search);

  return retryReads({
    dialect: "postgres",
    ...accountQueries(client, db),
    ...refreshTokenQueries(client),
    ...roomQueries(client, db),
    ...readPositionQueries(client),
    insertMessages: batches.insertMessages,
    ...messageQueries(client, db),
    ...searchQueries(client, search),
    ...changeLogQueries(client),
    ...importQueries(client),

    async ping() {
      await client`SELECT 1`;
    },
    async migrationsApplied() {
      return migrationsApplied(client);
    },
    async close() {
      batches.closing();
      await search
        .stop()
        .catch((error: unknown) => console.error(`search: stopping the indexer failed: ${(error as Error).message}`));
      await Promise.all([client.end({ timeout: 5 }), batches.end()]);
    },
  });
}

/** The store's reads: they change nothing, so each can be tried a second time. */
const READS = [
  "countUsers",
  "hasAdmin",
  "findUserById",
  "findRefreshToken",
  "findUserByUsername",
  "findUserByEmail",
  "listUsers",
  "listRooms",
  "findRoom",
  "listRoomListings",
  "findMemberRole",
  "listMembers",
  "roomActivity",
  "listMessages",
  "listMessagesJson",
  "findMessage",
  "findMessagesByIds",
  "newestMessageId",
  "searchMessages",
  "changesSince",
  "ping",
  "migrationsApplied",
] as const satisfies readonly (keyof Store)[];

/**
 * Each read that fails because its connection is gone is tried once more, on another connection. postgres-js
 * learns that PostgreSQL closed an idle connection (a restart, a failover, pg_terminate_backend) only when it next
 * sends a query on it, so without this the first request after such a close got 503 for nothing (4 runs in 25 of
 * test/faults.test.ts "every PostgreSQL connection of the server killed", at its history read). Writes are not
 * retried: one may have committed before its answer was lost.
 */
function retryReads(store: Store): Store {
  for (const name of READS) {
    const read = store[name] as (...args: unknown[]) => Promise<unknown>;
    const retried = (...args: unknown[]) =>
      read(...args).catch((error: unknown) => (isStoreUnavailable(error) ? read(...args) : Promise.reject(error)));
    Object.assign(store, { [name]: retried });
  }
  return store;
}
