// The SQLite search index (the FTS5 table messages_search): its indexer, which runs on a thread of its own with a
// connection of its own (search-worker.ts) for a database file, and on the store's own for ":memory:".
import type { Database } from "bun:sqlite";
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
 * start (messages stored before the search migrations, or before a crash) and at stop. A chunk's words are folded
 * before the write lock is taken (folding is 40 % of the work, and the store's writes wait while the lock is held);
 * under the lock the chunk's messages are read again, and a message edited, deleted or replaced since is indexed
 * as it is now. FTS5 costs a sixth per message in chunks of hundreds of what it costs in the writer's batches of
 * tens. Deletes need nothing here: the trigger messages_search_delete drops a message's words with its row,
 * whatever deletes it; an edit rewrites them (rewriteWords).
 */
export function createSearchIndexer(sqlite: Database, options: { checkpoints?: boolean } = {}): SearchIndexer {
  const pending = sqlite.query<{ id: number; content: string }, [number]>(
    `SELECT id, content FROM messages WHERE id > (SELECT through_id FROM search_indexed) ORDER BY id LIMIT ?`,
  );
  const current = sqlite.query<{ id: number; content: string }, [number, number]>(
    "SELECT id, content FROM messages WHERE id > (SELECT through_id FROM search_indexed) AND id BETWEEN ? AND ?",
  );
  const insert = sqlite.query<unknown, [number, string]>("INSERT INTO messages_search (rowid, words) VALUES (?, ?)");
  const record = sqlite.query<unknown, [number]>("UPDATE search_indexed SET through_id = max(through_id, ?)");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const checkpoint = sqlite.query<{ busy: number; log: number; checkpointed: number }, []>(
    "PRAGMA wal_checkpoint(PASSIVE)",
  );
  const restart = sqlite.query("PRAGMA wal_checkpoint(RESTART)");

  const write = sqlite.transaction(
    (read: Map<number, { content: string; words: string }>, first: number, last: number) => {
      for (const { id, content } of current.all(first, last)) {
        const before = read.get(id);
        insert.run(id, before?.content === content ? before.words : ftsText(content));
      }
      record.run(last);
    },
  ).immediate;
  /** One chunk; true when more may be waiting. */
  const checkpoints = () => {
    if (options.checkpoints) {
      // A passive checkpoint never waits, and with the store writing all the time it never finishes: the WAL would
      // grow without end (50-85 MB in a run of bench/store-insert.ts). RESTART waits for a moment between the
      // store's commits, finishes, and has the next writer start the WAL over; the store's writes wait meanwhile,
      // as they did for the checkpoints it ran itself before.
      if (checkpoint.get()!.log > WAL_CHECKPOINT_PAGES) restart.get();
    }
  };
  const step = () => {
    const rows = pending.all(INDEX_CHUNK);
    // Writes that add no message (a room's messages purged in chunks, room-purge.ts) are checkpointed here too,
    // not on the store's connection, whose thread answers the sockets.
    if (rows.length === 0) {
      checkpoints();
      return false;
    }
    const read = new Map(rows.map((r) => [r.id, { content: r.content, words: ftsText(r.content) }]));
    write(read, rows[0]!.id, rows[rows.length - 1]!.id);
    checkpoints();
    return rows.length === INDEX_CHUNK;
  };
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
