// The message batch: the writer's group commit as one synchronous transaction; a resend returns what was stored.
import type { Database } from "bun:sqlite";
import { eq, sql } from "drizzle-orm";
import type { SearchIndexer } from "../../search/indexer-thread.ts";
import type { NewMessage, StoredMessage } from "../store.ts";
import { mapConstraint } from "./errors.ts";
import type { Db } from "./rows.ts";
import type { ResendWindow } from "./resend-window.ts";
import { messages } from "./schema.ts";

const p = sql.placeholder;

/**
 * `search` is told after each commit; `resends` finds a resend's original (resend-window.ts). `insertOne` and
 * `withResends` are the import's too (import.ts).
 */
export function messageBatches(sqlite: Database, db: Db, search: SearchIndexer, resends: ResendWindow) {
  const messageById = db
    .select()
    .from(messages)
    .where(eq(messages.id, p("id")))
    .prepare();
  // The hot insert, on bun:sqlite directly: only the id comes back, the rest of the record is the input (Drizzle's
  // prepared insert mapped every row and built a transaction object per batch: 6 % of the server under load).
  const insertRow = sqlite.query<{ id: number }, [number, number, string, string | null, number]>(
    "INSERT INTO messages (room_id, user_id, content, client_id, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
  );
  /** Inside a transaction: the new message's id, or the original's when its (room, user, client id) is a resend. */
  const insertOne = (m: NewMessage): { id: number; duplicate: boolean } => {
    const original = m.clientId === null ? undefined : resends.find(m.roomId, m.userId, m.clientId);
    if (original !== undefined) return { id: original, duplicate: true };
    const id = insertRow.get(m.roomId, m.userId, m.content, m.clientId, m.createdAt.getTime())!.id;
    resends.stage(m.roomId, m.userId, m.clientId, id);
    return { id, duplicate: false };
  };
  /** Runs a write transaction that inserts messages: their resend keys join the window once it commits. */
  const withResends = <R>(run: () => R): R => {
    try {
      const result = run();
      resends.commit();
      return result;
    } catch (error) {
      resends.rollback();
      throw error;
    }
  };
  const insertBatch = sqlite.transaction((batch: readonly NewMessage[]) =>
    batch.map((m): StoredMessage => {
      const { id, duplicate } = insertOne(m);
      if (!duplicate) return { record: { ...m, id, editedAt: null }, duplicate: false };
      // (roomId, userId, clientId) was stored before: a resend. Return the original.
      return { record: messageById.get({ id })!, duplicate: true };
    }),
  );

  return {
    async insertMessages(batch: readonly NewMessage[]): Promise<StoredMessage[]> {
      try {
        const stored = withResends(() => insertBatch(batch));
        search.soon();
        return stored;
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    insertOne,
    withResends,
  };
}
