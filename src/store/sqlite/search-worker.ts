// The SQLite search indexer's thread (src/search/indexer-thread.ts), on a connection of its own to the store's file.
import { Database } from "bun:sqlite";
import { serveIndexer } from "../../search/indexer-thread.ts";
import { BUSY_TIMEOUT_MS, createSearchIndexer } from "./search-index.ts";

serveIndexer(({ path }: { path: string }) => {
  const sqlite = new Database(path, { strict: true });
  sqlite.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  sqlite.run("PRAGMA synchronous = NORMAL");
  // Checkpoints are this thread's work (createSearchIndexer's `checkpoints`), after each chunk.
  sqlite.run("PRAGMA wal_autocheckpoint = 0");
  const indexer = createSearchIndexer(sqlite, { checkpoints: true });
  return {
    ...indexer,
    async stop() {
      await indexer.stop();
      try {
        // The WAL emptied here: the store's connection, which closes last, would otherwise checkpoint it on the
        // main thread as it closes.
        sqlite.run("PRAGMA wal_checkpoint(TRUNCATE)");
      } catch (error) {
        console.error(`search: checkpoint at close failed: ${(error as Error).message}`);
      }
      sqlite.close(true);
    },
  };
});
