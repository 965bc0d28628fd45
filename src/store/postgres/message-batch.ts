// The message batch: the writer's group commit as one INSERT over unnest() arrays, whatever its size, on a
// connection of its own; with the references check, the NOTIFY to other instances, and a batch PostgreSQL does not
// answer cancelled and refused.
import type postgres from "postgres";
import { messagesNotifySql } from "../../realtime/bus.ts";
import type { SearchIndexer } from "../../search/indexer-thread.ts";
import type { MessageRecord, NewMessage, StoredMessage } from "../store.ts";
import { arrayLiteral, connectPostgres, reconnectDelay } from "./connect.ts";
import { lostConnection, mapConstraint } from "./errors.ts";
import { INSERT_LOCK } from "./locks.ts";
import { requireReferences } from "./references.ts";
import { ROW_COLUMNS, toRecord, type MessageRow } from "./rows.ts";

/**
 * The longest a message batch may go unanswered (a lock held elsewhere, a connection that postgres-js cannot use
 * again): past this its INSERT is cancelled, the batch refused (its senders get STORE_UNAVAILABLE and resend with
 * their client_id, which stores one that committed anyway only once) and the batch connection replaced.
 */
const BATCH_ANSWER_MS = 5000;
/** How long a stalled batch waits for its answer after its cancel request (which opens a connection of its own). */
const CANCEL_WAIT_MS = 1000;

class BatchStalledError extends Error {
  readonly code = "CONNECTION_STALLED";
  constructor() {
    super(`the message batch had no answer from PostgreSQL in ${BATCH_ANSWER_MS} ms`);
  }
}

/**
 * `origin`: the instance id the batches' notifications carry. `search` is told after each commit. The store calls
 * `closing()` when it starts to close, and `end()` last.
 */
export function messageBatches(url: string, origin: string, search: SearchIndexer) {
  // Message batches go through one connection of their own: postgres-js pipelines concurrent batches on it, so
  // they commit, and take their ids, in the order the writer sent them.
  const newBatchClient = () => connectPostgres(url, { backoff: reconnectDelay, max: 1 });
  let batchClient = newBatchClient();
  let closing = false;
  /**
   * A lost or stalled batch connection is never used again: it is replaced, and the old client ended at once (the
   * batches it still holds are refused; their senders get STORE_UNAVAILABLE). postgres-js 3.4.9 reconnects the
   * same connection object, and has been seen to leave one that never writes again (a cleared write timer left
   * set: patched in patches/postgres@3.4.9.patch) or a query that is never answered (BATCH_ANSWER_MS).
   */
  function replaceBatchClient(failed: postgres.Sql): void {
    if (closing || batchClient !== failed) return;
    batchClient = newBatchClient();
    void failed.end({ timeout: 0 }).catch(() => {});
  }

  return {
    async insertMessages(batch: readonly NewMessage[]): Promise<StoredMessage[]> {
      const sql = batchClient;
      let statement: { cancel(): unknown } | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const inserting = insertBatch(sql, batch, origin, (sent) => (statement = sent));
      const stalled = new Promise<"stalled">((resolve) => (timer = setTimeout(resolve, BATCH_ANSWER_MS, "stalled")));
      try {
        const answer = await Promise.race([inserting, stalled]);
        if (answer !== "stalled") {
          search.soon();
          return answer;
        }
        // Cancelled, and its own answer awaited: refused only once PostgreSQL says it was cancelled (or says nothing
        // for CANCEL_WAIT_MS more), so that it cannot commit after its senders were told it was not stored. One
        // that committed meanwhile is answered as stored.
        void Promise.resolve(statement?.cancel()).catch(() => {});
        const late = await Promise.race([
          inserting.then(
            (stored) => ({ stored }),
            () => undefined,
          ),
          Bun.sleep(CANCEL_WAIT_MS),
        ]);
        if (late) return late.stored;
        throw new BatchStalledError();
      } catch (error) {
        if (lostConnection(error)) replaceBatchClient(sql);
        throw mapConstraint(error);
      } finally {
        clearTimeout(timer);
      }
    },
    /** The store is closing: a lost batch connection is no longer replaced. */
    closing() {
      closing = true;
    },
    end: () => batchClient.end({ timeout: 5 }),
  };
}

interface InsertedRow {
  id: number;
  room_id: number;
  user_id: number;
  client_id: string | null;
}

async function insertBatch(
  client: postgres.Sql,
  batch: readonly NewMessage[],
  origin: string,
  onStatement: (statement: { cancel(): unknown }) => void = () => {},
): Promise<StoredMessage[]> {
  const column = (pick: (m: NewMessage) => string | number | null) => arrayLiteral(batch.map(pick));
  // The lock is an InitPlan, taken before the first row gets its id. ORDER BY ord makes ids follow the batch's
  // order; times travel as epoch milliseconds (cheap to parse). The NOTIFYs are sent at commit, carrying the rows.
  // `refs` stands in for the foreign keys (references.ts), taken after the insert lock.
  const insert = client<InsertedRow[]>`
    WITH lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(${INSERT_LOCK})),
    refs AS MATERIALIZED (SELECT ${requireReferences(client, batch, client`EXISTS (SELECT FROM lock)`)} AS ok),
    ins AS (
      INSERT INTO messages (room_id, user_id, content, client_id, created_at)
      SELECT room_id, user_id, content, client_id, to_timestamp(created_ms / 1000.0)
      FROM unnest(${column((m) => m.roomId)}::int[], ${column((m) => m.userId)}::int[],
                  ${column((m) => m.content)}::text[], ${column((m) => m.clientId)}::text[],
                  ${column((m) => m.createdAt.getTime())}::float8[])
        WITH ORDINALITY AS b(room_id, user_id, content, client_id, created_ms, ord)
      WHERE (SELECT ok FROM refs)
      ORDER BY ord
      ON CONFLICT (room_id, user_id, client_id) DO NOTHING
      RETURNING id, room_id, user_id, client_id, content, created_at
    ),
    notified AS (${messagesNotifySql(client, origin)})
    SELECT id, room_id, user_id, client_id FROM ins WHERE (SELECT count(*) FROM notified) >= 0`;
  onStatement(insert);
  const inserted = await insert;

  // Fresh rows are known from the input; only their ids come back. Resends are read back whole.
  const freshByKey = new Map<string, number>();
  const anonymous: number[] = [];
  const keyOf = (roomId: number, userId: number, clientId: string | null) => `${roomId}:${userId}:${clientId}`;
  for (const row of inserted) {
    if (row.client_id === null) anonymous.push(row.id);
    else freshByKey.set(keyOf(row.room_id, row.user_id, row.client_id), row.id);
  }
  const resentByKey = new Map<string, MessageRecord>();
  const resent = batch.filter((m) => m.clientId !== null && !freshByKey.has(keyOf(m.roomId, m.userId, m.clientId)));
  if (resent.length > 0) {
    const rows = await client<MessageRow[]>`
      SELECT ${client.unsafe(ROW_COLUMNS)} FROM messages
      WHERE (room_id, user_id, client_id) IN (
        SELECT * FROM unnest(${arrayLiteral(resent.map((m) => m.roomId))}::int[], ${arrayLiteral(resent.map((m) => m.userId))}::int[],
                             ${arrayLiteral(resent.map((m) => m.clientId))}::text[]))`;
    for (const row of rows) resentByKey.set(keyOf(row.room_id, row.user_id, row.client_id), toRecord(row));
  }
  let next = 0;
  return batch.map((m) => {
    if (m.clientId === null) return { duplicate: false, record: fresh(m, anonymous[next++]) };
    const key = keyOf(m.roomId, m.userId, m.clientId);
    const id = freshByKey.get(key);
    if (id !== undefined) {
      // The first input with this key made the row; a second one in the same batch is a resend.
      freshByKey.delete(key);
      const record = fresh(m, id);
      resentByKey.set(key, record);
      return { duplicate: false, record };
    }
    const record = resentByKey.get(key);
    if (!record) throw new Error("insertMessages: a stored row is missing");
    return { duplicate: true, record };
  });
}

function fresh(m: NewMessage, id: number | undefined): MessageRecord {
  if (id === undefined) throw new Error("insertMessages: RETURNING has fewer rows than the batch");
  // The column is timestamp(3): what is stored is the input rounded to the millisecond, as getTime() already is.
  return {
    id,
    roomId: m.roomId,
    userId: m.userId,
    content: m.content,
    clientId: m.clientId,
    createdAt: m.createdAt,
    editedAt: null,
  };
}
