// Where the workers' entry points are. In this folder, beside main.ts, on purpose: run from source a URL resolves
// from this file, and in the executable (scripts/build.ts, where each is an entry point of its own) from the bundle,
// whose root is this folder (src/, where main.ts is). So the same relative paths hold in both.

/** The SQLite search indexer (src/search/indexer-thread.ts). */
export const sqliteSearchWorker = new URL("./store/sqlite/search-worker.ts", import.meta.url);
/** The PostgreSQL search indexer (src/search/indexer-thread.ts). */
export const postgresSearchWorker = new URL("./store/postgres/search-worker.ts", import.meta.url);
