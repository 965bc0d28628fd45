// The embedded store: Drizzle on bun:sqlite, WAL mode, every query prepared once; assembled here from one part
// per concern (accounts.ts, rooms.ts, message-batch.ts, ...), as the PostgreSQL store is.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { sqliteSearchWorker } from "../../workers.ts";
import { indexerThread } from "../../search/indexer-thread.ts";
import type { Store } from "../store.ts";
import { accountQueries } from "./accounts.ts";
import { importQueries } from "./import.ts";
import { holdLock, SqliteInUseError } from "./lock.ts";
import { messageBatches } from "./message-batch.ts";
import { messageQueries } from "./messages.ts";
import { migrateSqlite, migrationsApplied } from "./migrate.ts";
import { readPositionQueries } from "./read-positions.ts";
import { createResendWindow } from "./resend-window.ts";
import { createRoomPurger } from "./room-purge.ts";
import { refreshTokenQueries } from "./refresh-tokens.ts";
import { roomQueries } from "./rooms.ts";
import { schema } from "./schema.ts";
import { searchQueries } from "./search.ts";
import { BUSY_TIMEOUT_MS, createSearchIndexer, WAL_CHECKPOINT_PAGES } from "./search-index.ts";

export { SqliteInUseError };

/** `path` is a file path or ":memory:". */
/** `resendWindow`: how many of the newest messages a resend is found among (resend-window.ts), for tests. */
export function openSqliteStore(path: string, options: { migrate?: boolean; resendWindow?: number } = {}): Store {
  const memory = path === ":memory:";
  if (!memory) mkdirSync(dirname(path), { recursive: true });
  const lock = memory ? undefined : holdLock(path);
  const sqlite = new Database(path, { create: true, strict: true });
  sqlite.run("PRAGMA journal_mode = WAL");
  // The search indexer writes through a connection of its own (search-index.ts), a chunk at a time.
  sqlite.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  sqlite.run("PRAGMA synchronous = NORMAL");
  // The search indexer's connection checkpoints after its chunks (search-index.ts), on its own thread: here they
  // cost the store's writes 15-30 % more CPU (its pages are in the WAL too). This one checkpoints only when the WAL
  // grows past 4 times that, which happens if the indexer does not run: writes that are not messages.
  sqlite.run(`PRAGMA wal_autocheckpoint = ${4 * WAL_CHECKPOINT_PAGES}`);
  sqlite.run("PRAGMA foreign_keys = ON");
  const db = drizzle(sqlite, { schema });
  if (options.migrate !== false) migrateSqlite(db);

  // Off the thread that answers sockets (folding words and FTS5 cost more than the message's INSERT); an
  // in-memory database has no other connection, so its indexer runs here.
  const search = memory ? createSearchIndexer(sqlite) : indexerThread(sqliteSearchWorker, { path });
  const batches = messageBatches(sqlite, db, search, createResendWindow(sqlite, options.resendWindow));
  // The indexer's thread checkpoints the purge's writes (search-index.ts) when the purge asks it to catch up.
  const purges = createRoomPurger(sqlite, { settle: () => search.catchUp() });

  return {
    dialect: "sqlite",
    ...accountQueries(sqlite, db),
    ...refreshTokenQueries(sqlite, db),
    ...roomQueries(sqlite, db, purges),
    ...readPositionQueries(sqlite),
    insertMessages: batches.insertMessages,
    ...messageQueries(sqlite, db),
    ...searchQueries(sqlite, search),
    ...importQueries(db, batches, search),

    async ping() {
      sqlite.query("SELECT 1").get();
    },
    async migrationsApplied() {
      return migrationsApplied(sqlite);
    },
    async close() {
      // A room's messages still to purge are left in room_purges for the next start.
      purges.stop();
      await search
        .stop()
        .catch((error: unknown) => console.error(`search: stopping the indexer failed: ${(error as Error).message}`));
      // close(true) finalizes our prepared statements; without it the handle outlives close().
      sqlite.close(true);
      lock?.close(true);
    },
  };
}
