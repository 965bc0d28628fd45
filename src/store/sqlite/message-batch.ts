// The message batch: the writer's group commit as one synchronous transaction; a resend returns what was stored.
import type { Database } from "bun:sqlite";
import { and, eq, sql } from "drizzle-orm";
import type { SearchIndexer } from "../../search/indexer-thread.ts";
import type { NewMessage, StoredMessage } from "../store.ts";
import { mapConstraint } from "./errors.ts";
import type { Db } from "./rows.ts";
import { messages } from "./schema.ts";

const p = sql.placeholder;

/** `search` is told after each commit. `insertOne` is the import's insert too (import.ts). */
export function messageBatches(sqlite: Database, db: Db, search: SearchIndexer) {
  const messageByClientId = db
    .select()
    .from(messages)
    .where(and(eq(messages.roomId, p("roomId")), eq(messages.userId, p("userId")), eq(messages.clientId, p("clientId"))))
    .prepare();
  // The hot insert, on bun:sqlite directly: only the id comes back, the rest of the record is the input (Drizzle's
  // prepared insert mapped every row and built a transaction object per batch: 6 % of the server under load).
  const insertRow = sqlite.query<{ id: number }, [number, number, string, string | null, number]>(
    `INSERT INTO messages (room_id, user_id, content, client_id, created_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (room_id, user_id, client_id) DO NOTHING RETURNING id`,
  );
  /** The new message's id; undefined when its (room, user, client id) was stored before. */
  const insertOne = (m: NewMessage) => insertRow.get(m.roomId, m.userId, m.content, m.clientId, m.createdAt.getTime())?.id;
  const insertBatch = sqlite.transaction((batch: readonly NewMessage[]) =>
    batch.map((m): StoredMessage => {
      const id = insertOne(m);
      if (id !== undefined) return { record: { ...m, id, editedAt: null }, duplicate: false };
      // (roomId, userId, clientId) was stored before: a resend. Return the original.
      return { record: messageByClientId.get({ roomId: m.roomId, userId: m.userId, clientId: m.clientId })!, duplicate: true };
    }),
  );

  return {
    async insertMessages(batch: readonly NewMessage[]): Promise<StoredMessage[]> {
      try {
        const stored = insertBatch(batch);
        search.soon();
        return stored;
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    insertOne,
  };
}
