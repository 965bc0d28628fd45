// The import (src/import): users, rooms and messages in one transaction.
import type { SearchIndexer } from "../../search/indexer-thread.ts";
import { resolveImportRef, type ImportResult, type NewMessage, type Store } from "../store.ts";
import { mapConstraint } from "./errors.ts";
import type { Db } from "./rows.ts";
import { rooms, users } from "./schema.ts";

/** Thrown to roll a dry run back, carrying what it would have done. */
class DryRunDone {
  constructor(readonly result: ImportResult) {}
}

/** `batches`: the message batch's insert and resend window (message-batch.ts); `search` is told after the commit. */
export function importQueries(
  db: Db,
  batches: { insertOne(m: NewMessage): { duplicate: boolean }; withResends<R>(run: () => R): R },
  search: SearchIndexer,
): Pick<Store, "importRecords"> {
  const { insertOne, withResends } = batches;
  return {
    async importRecords(batch, options = {}) {
      try {
        // IMMEDIATE takes the write lock up front: a long import never fails half way on a lock upgrade.
        const imported = withResends(() =>
          db.transaction(
            () => {
              const userIds = batch.users.map((u) => db.insert(users).values(u).returning({ id: users.id }).get().id);
              const roomIds = batch.rooms.map((r) => db.insert(rooms).values(r).returning({ id: rooms.id }).get().id);
              let messagesStored = 0;
              batch.messages.forEach((m, i) => {
                const roomId = resolveImportRef(m.room, roomIds);
                const userId = resolveImportRef(m.user, userIds);
                if (
                  !insertOne({ roomId, userId, content: m.content, clientId: m.clientId, createdAt: m.createdAt })
                    .duplicate
                ) {
                  messagesStored++;
                }
                if ((i + 1) % 5000 === 0) options.onProgress?.(i + 1);
              });
              const result = { userIds, roomIds, messagesStored };
              if (options.dryRun) throw new DryRunDone(result);
              return result;
            },
            { behavior: "immediate" },
          ),
        );
        search.soon();
        return imported;
      } catch (error) {
        if (error instanceof DryRunDone) return error.result;
        throw mapConstraint(error);
      }
    },
  };
}
