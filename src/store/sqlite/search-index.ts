// The SQLite search index (the FTS5 table messages_search): its indexer, which runs on a thread of its own with a
// connection of its own (search-worker.ts) for a database file, and on the store's own for ":memory:".
import { Database } from "bun:sqlite";
import type { SearchIndexer } from "../../search/indexer-thread.ts";
import { ftsText } from "../../search/text.ts";

/**
 * How long a connection waits for the other's write transaction (the store's and the indexer's, a few milliseconds
 * each) before its statement fails with "database is locked".
 */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * Checkpoint every 2,000 WAL pages (8 MB) instead of 1,000: a page rewritten by several commits is copied back
 * once, and the two fsyncs of a checkpoint come half as often. Measured (random rooms and client_ids, batches of
 * 128): 49 -> 38 us per stored message; the commit that runs the checkpoint stalls about as long (max 39 -> 34 ms).
 */
export const WAL_CHECKPOINT_PAGES = 2000;

/**
 * Messages indexed per transaction, at most (a chunk holds what came in INDEX_DELAY_MS, unless the indexer is
 * behind). FTS5 writes a segment per transaction and merges them as they pile up: in chunks of 1,000 the indexer
 * took 2-3 times the CPU it takes in chunks of 5,000 (bench/store-insert.ts, batches of 256). A chunk of 5,000 holds
 * the write lock about 25 ms; a store write waits for it meanwhile (blocking its thread, not using its CPU).
 */
const INDEX_CHUNK = 5000;
/** How long after a commit its messages wait to be indexed with those that follow it. */
const INDEX_DELAY_MS = 200;

/**
 * messages_search beside the group commit: every message above search_indexed.through_id gets its folded words in
 * chunks, INDEX_DELAY_MS after a commit, before every search (so a search sees every acknowledged message), at
 * start (messages stored before the search migrations, or before a crash) and at stop. Each chunk is one IMMEDIATE
 * transaction: what it reads (the mark, the contents) cannot change before it writes. FTS5 costs a sixth per
 * message in chunks of hundreds of what it costs in the writer's batches of tens. Deletes need nothing here: the
 * trigger messages_search_delete drops a message's words with its row, whatever deletes it; an edit rewrites them
 * (rewriteWords).
 */
export function createSearchIndexer(sqlite: Database): SearchIndexer {
  const pending = sqlite.query<{ id: number; content: string }, [number]>(
    `SELECT id, content FROM messages WHERE id > (SELECT through_id FROM search_indexed) ORDER BY id LIMIT ?`,
  );
  const insert = sqlite.query<unknown, [number, string]>("INSERT INTO messages_search (rowid, words) VALUES (?, ?)");
  const record = sqlite.query<unknown, [number]>("UPDATE search_indexed SET through_id = ?");
  let timer: ReturnType<typeof setTimeout> | undefined;

  /** One chunk; true when more may be waiting. */
  const step = sqlite
    .transaction(() => {
      const rows = pending.all(INDEX_CHUNK);
      for (const row of rows) insert.run(row.id, ftsText(row.content));
      if (rows.length > 0) record.run(rows[rows.length - 1]!.id);
      return rows.length === INDEX_CHUNK;
    })
    .immediate;
  const catchUp = () => {
    let done = 0;
    while (step()) {
      done += INDEX_CHUNK;
      if (done % 100_000 === 0) console.error(`search: indexed ${done} messages`);
    }
  };
  const tick = () => {
    timer = undefined;
    try {
      if (step()) timer = setTimeout(tick, 0);
    } catch (error) {
      // Left for the next commit, search or start to index; nothing is lost.
      console.error(`search: indexing failed: ${(error as Error).message}`);
    }
  };
  catchUp();

  return {
    soon() {
      timer ??= setTimeout(tick, INDEX_DELAY_MS);
      (timer as { unref?: () => void }).unref?.();
    },
    async catchUp() {
      catchUp();
    },
    async stop() {
      clearTimeout(timer);
      timer = undefined;
      try {
        catchUp();
      } catch (error) {
        // The next start indexes what is left; stopping must not fail for it.
        console.error(`search: indexing at close failed: ${(error as Error).message}`);
      }
    },
  };
}

/**
 * For the store's edit transaction: message `id` now has `content`. Its words are rewritten if it is indexed; one
 * that is not yet will be, with its new content (the indexer's chunk cannot run between the edit and this).
 */
export function rewriteWords(sqlite: Database): (id: number, content: string) => void {
  const indexed = sqlite.query<{ through_id: number }, []>("SELECT through_id FROM search_indexed");
  const remove = sqlite.query<unknown, [number]>("DELETE FROM messages_search WHERE rowid = ?");
  const insert = sqlite.query<unknown, [number, string]>("INSERT INTO messages_search (rowid, words) VALUES (?, ?)");
  return (id, content) => {
    if (id > indexed.get()!.through_id) return;
    remove.run(id);
    insert.run(id, ftsText(content));
  };
}
