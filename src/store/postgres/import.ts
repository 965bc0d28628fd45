// The import (src/import): users, rooms and messages in one transaction, in chunks of unnest() arrays.
import type postgres from "postgres";
import { resolveImportRef, type ImportBatch, type ImportResult, type Store } from "../store.ts";
import { arrayLiteral } from "./connect.ts";
import { mapConstraint } from "./errors.ts";
import { requireReferences } from "./references.ts";
import { insertWords } from "./search-index.ts";

/** Thrown to roll a dry run back, carrying what it would have done. (Identity sequences still advance.) */
class DryRunDone {
  constructor(readonly result: ImportResult) {}
}

const IMPORT_CHUNK = 5000;

export function importQueries(client: postgres.Sql): Pick<Store, "importRecords"> {
  return {
    async importRecords(batch, options = {}) {
      try {
        return await client.begin(async (tx) => {
          const result = await importBatch(tx, batch, options.onProgress);
          if (options.dryRun) throw new DryRunDone(result);
          return result;
        });
      } catch (error) {
        if (error instanceof DryRunDone) return error.result;
        throw mapConstraint(error);
      }
    },
  };
}

async function importBatch(
  tx: postgres.TransactionSql,
  batch: ImportBatch,
  onProgress?: (done: number) => void,
): Promise<ImportResult> {
  const ms = (d: Date) => d.getTime();
  // Ids come back keyed by the unique name, so nothing relies on the order of RETURNING.
  const userRows = await tx<{ id: number; username: string }[]>`
    INSERT INTO users (username, email, hashed_password, role, created_at)
    SELECT username, email, hashed_password, role, to_timestamp(created_ms / 1000.0)
    FROM unnest(${arrayLiteral(batch.users.map((u) => u.username))}::text[], ${arrayLiteral(batch.users.map((u) => u.email))}::text[],
                ${arrayLiteral(batch.users.map((u) => u.passwordHash))}::text[], ${arrayLiteral(batch.users.map((u) => u.role))}::text[],
                ${arrayLiteral(batch.users.map((u) => ms(u.createdAt)))}::float8[])
      WITH ORDINALITY AS b(username, email, hashed_password, role, created_ms, ord)
    ORDER BY ord
    RETURNING id, username`;
  const userId = new Map(userRows.map((r) => [r.username, r.id]));
  const roomRows = await tx<{ id: number; name: string }[]>`
    INSERT INTO rooms (name, description, created_at)
    SELECT name, description, to_timestamp(created_ms / 1000.0)
    FROM unnest(${arrayLiteral(batch.rooms.map((r) => r.name))}::text[], ${arrayLiteral(batch.rooms.map((r) => r.description))}::text[],
                ${arrayLiteral(batch.rooms.map((r) => ms(r.createdAt)))}::float8[])
      WITH ORDINALITY AS b(name, description, created_ms, ord)
    ORDER BY ord
    RETURNING id, name`;
  const roomId = new Map(roomRows.map((r) => [r.name, r.id]));
  const userIds = batch.users.map((u) => userId.get(u.username)!);
  const roomIds = batch.rooms.map((r) => roomId.get(r.name)!);

  let messagesStored = 0;
  for (let start = 0; start < batch.messages.length; start += IMPORT_CHUNK) {
    const chunk = batch.messages.slice(start, start + IMPORT_CHUNK);
    const refs = chunk.map((m) => ({
      roomId: resolveImportRef(m.room, roomIds),
      userId: resolveImportRef(m.user, userIds),
    }));
    await tx`SELECT ${requireReferences(tx, refs, tx`true`)}`;
    const column = (pick: (m: (typeof chunk)[number]) => string | number | null) => arrayLiteral(chunk.map(pick));
    const inserted = await tx<{ id: number; content: string }[]>`
      INSERT INTO messages (room_id, user_id, content, client_id, created_at)
      SELECT room_id, user_id, content, client_id, to_timestamp(created_ms / 1000.0)
      FROM unnest(${column((m) => resolveImportRef(m.room, roomIds))}::int[], ${column((m) => resolveImportRef(m.user, userIds))}::int[],
                  ${column((m) => m.content)}::text[], ${column((m) => m.clientId)}::text[],
                  ${column((m) => ms(m.createdAt))}::float8[])
        WITH ORDINALITY AS b(room_id, user_id, content, client_id, created_ms, ord)
      ORDER BY ord
      ON CONFLICT (room_id, user_id, client_id) DO NOTHING
      RETURNING id, content`;
    // Imports do not commit in id order (they take no insert lock), so the indexer's mark could pass them by:
    // they bring their words with them.
    await insertWords(tx, inserted);
    messagesStored += inserted.length;
    onProgress?.(start + chunk.length);
  }
  return { userIds, roomIds, messagesStored };
}
