// The PostgreSQL search index (message_words): its indexer, which runs on a thread of its own
// (search-worker.ts), the statement that writes words, which the store's import uses too, and the backfill of
// messages stored before the index existed.
import type postgres from "postgres";
import type { SearchIndexer } from "../../search/indexer-thread.ts";
import { tsvectorLiteral } from "../../search/text.ts";
import { arrayLiteral } from "./connect.ts";

/** Writes the words of `rows` (ids and contents), keeping any a message has (an edit's, written with it). */
export async function insertWords(
  sql: postgres.Sql | postgres.TransactionSql,
  rows: readonly { id: number; content: string }[],
): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    INSERT INTO message_words (message_id, words)
    SELECT id, words::tsvector
    FROM unnest(${arrayLiteral(rows.map((r) => r.id))}::int[], ${arrayLiteral(rows.map((r) => tsvectorLiteral(r.content)))}::text[]) AS b(id, words)
    ON CONFLICT (message_id) DO NOTHING`;
}

/** Messages indexed per statement (and per turn of the indexer, which goes on at once while more are waiting). */
const INDEX_CHUNK = 5000;
/** How long after a commit its messages wait to be indexed with those that follow it. */
const INDEX_DELAY_MS = 200;

/**
 * message_words beside the group commit, on the indexer's thread (src/search/indexer-thread.ts): every message above search_indexed.through_id gets its words, in chunks,
 * INDEX_DELAY_MS after a commit and before every search (so a search sees every acknowledged message), on any
 * instance (the mark only grows; a chunk two instances index at once is written once). Message INSERTs commit in id
 * order (INSERT_LOCK), so every message below a committed one is committed too and the mark passes none by.
 * Messages that have words already (an edit's, an import's) are skipped: their content is not even read. The words
 * of a message deleted while its chunk was being indexed may be written after it is gone: never found (a search
 * joins messages), and nothing else reads them.
 */
export function createSearchIndexer(client: postgres.Sql): SearchIndexer {
  let through: number | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  /** One chunk; true when more may be waiting. */
  const step = async () => {
    through ??= (await client<{ through_id: number }[]>`SELECT through_id FROM search_indexed`)[0]!.through_id;
    const rows = await client<{ id: number; content: string | null }[]>`
      SELECT m.id, CASE WHEN EXISTS (SELECT FROM message_words w WHERE w.message_id = m.id) THEN NULL ELSE m.content END AS content
      FROM messages m WHERE m.id > ${through} ORDER BY m.id LIMIT ${INDEX_CHUNK}`;
    if (rows.length === 0) return false;
    const last = rows[rows.length - 1]!.id;
    await insertWords(
      client,
      rows.filter((r): r is { id: number; content: string } => r.content !== null),
    );
    await client`UPDATE search_indexed SET through_id = ${last} WHERE through_id < ${last}`;
    through = last;
    return rows.length === INDEX_CHUNK;
  };
  /** Indexes everything waiting; one run at a time, each after the one before. */
  const catchUp = () => {
    const run = running.then(async () => {
      while (await step());
    });
    running = run.catch(() => {});
    return run;
  };
  const tick = () => {
    timer = undefined;
    // Left for the next commit or search to index; nothing is lost.
    catchUp().catch((error: unknown) => console.error(`search: indexing failed: ${(error as Error).message}`));
  };

  return {
    /** After a commit: index what it stored, with whatever follows it within INDEX_DELAY_MS. */
    soon() {
      if (stopped) return;
      timer ??= setTimeout(tick, INDEX_DELAY_MS);
      (timer as { unref?: () => void }).unref?.();
    },
    catchUp,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      // What this instance stored is indexed before it goes; the next search or instance would do it otherwise.
      await catchUp().catch((error: unknown) =>
        console.error(`search: indexing at close failed: ${(error as Error).message}`),
      );
    },
  };
}

/** How many messages the backfill indexes per transaction. */
const BACKLOG_CHUNK = 5000;

/**
 * Gives the messages stored before the search migration their words (search_backfill holds the id below which
 * some are left), newest first, a chunk per transaction, so an interrupted start carries on where it stopped.
 * Runs under the migration lock.
 */
export async function indexBacklog(client: postgres.Sql): Promise<void> {
  let done = 0;
  for (;;) {
    const [left] = await client<{ below_id: number }[]>`SELECT below_id FROM search_backfill`;
    if (!left) return;
    const count = await client.begin(async (tx) => {
      const rows = await tx<{ id: number; content: string }[]>`
        SELECT id, content FROM messages WHERE id < ${left.below_id} ORDER BY id DESC LIMIT ${BACKLOG_CHUNK}`;
      await insertWords(tx, rows);
      if (rows.length < BACKLOG_CHUNK) await tx`DELETE FROM search_backfill`;
      else await tx`UPDATE search_backfill SET below_id = ${rows[rows.length - 1]!.id}`;
      return rows.length;
    });
    done += count;
    if (done > 0 && done % 100_000 === 0) console.error(`search: indexed ${done} earlier messages`);
  }
}
