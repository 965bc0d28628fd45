// Deleting a room on SQLite: the room goes at once, its messages afterwards in bounded chunks. One DELETE of a
// room of 900,000 messages (with their search words) held the only connection, and every socket of the instance,
// for seconds; a chunk holds it a few milliseconds, and the event loop runs between chunks.
import type { Database } from "bun:sqlite";

/** Messages deleted per statement (with their search words, through the messages_search_delete trigger). */
export const PURGE_CHUNK = 50;
/**
 * A step's transaction deletes chunks until it has run this long. One transaction per chunk cost 5 times the CPU
 * per message (FTS5 writes its deletes per transaction); this keeps each pause of the event loop this short.
 */
export const PURGE_STEP_MS = 5;
/**
 * After this long in steps, the purge waits for `settle` (the search indexer's thread checkpoints the WAL there,
 * search-index.ts). Each deleted message rewrites a 4 KB page of the FTS5 index's tombstones: a purge that never
 * waited outran the checkpoints, the WAL grew by hundreds of megabytes, and the checkpoints then held the write
 * lock (and the thread that answers sockets) for hundreds of milliseconds. Waiting, it writes nothing meanwhile.
 */
export const PURGE_SETTLE_MS = 50;

export interface RoomPurger {
  /** Deletes the room, its members and read positions now, and queues its messages; false if there was no room. */
  deleteRoom(id: number): boolean;
  /** Stops between chunks; what is left is purged when the store opens next. */
  stop(): void;
}

/**
 * The room's row goes with foreign keys off for that one transaction: with them on, its ON DELETE CASCADE would
 * delete every message in the same statement. Its members and read positions (small) go in the same transaction,
 * the room's id is recorded in room_purges, and its messages go a chunk at a time. Nothing reads them meanwhile:
 * every read of a message goes through its room (history, search, unread counts, a message by id), and a message
 * cannot be added to the room, whose row is gone (the messages.room_id reference refuses it).
 */
export function createRoomPurger(
  sqlite: Database,
  options: { settle?: () => Promise<void>; chunk?: number } = {},
): RoomPurger {
  const chunk = options.chunk ?? PURGE_CHUNK;
  const removeMembers = sqlite.query<unknown, [number]>("DELETE FROM room_members WHERE room_id = ?");
  const removePositions = sqlite.query<unknown, [number]>("DELETE FROM read_positions WHERE room_id = ?");
  const removeRoom = sqlite.query<unknown, [number]>("DELETE FROM rooms WHERE id = ?");
  const queue = sqlite.query<unknown, [number]>("INSERT OR IGNORE INTO room_purges (room_id) VALUES (?)");
  const pending = sqlite.query<{ room_id: number }, []>("SELECT room_id FROM room_purges ORDER BY room_id LIMIT 1");
  const removeChunk = sqlite.query<unknown, [number, number]>(
    "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE room_id = ? ORDER BY id LIMIT ?)",
  );
  const done = sqlite.query<unknown, [number]>("DELETE FROM room_purges WHERE room_id = ?");
  /** One step: chunks of the oldest queued room for PURGE_STEP_MS; false when nothing is queued. */
  const purgeStep = sqlite.transaction(() => {
    const room = pending.get()?.room_id;
    if (room === undefined) return false;
    const started = performance.now();
    while (removeChunk.run(room, chunk).changes === chunk) {
      if (performance.now() - started > PURGE_STEP_MS) return true;
    }
    done.run(room);
    return true;
  });
  const remove = sqlite.transaction((id: number) => {
    removeMembers.run(id);
    removePositions.run(id);
    if (removeRoom.run(id).changes === 0) return false;
    queue.run(id);
    return true;
  });

  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let settling = false;
  /** Time spent in steps since the last settle. */
  let sinceSettle = 0;
  const settle = () => {
    sinceSettle = 0;
    if (!options.settle) return false;
    settling = true;
    options
      .settle()
      .catch((error: unknown) => {
        if (!stopped) console.error(`room purge: settling failed: ${(error as Error).message}`);
      })
      .finally(() => {
        settling = false;
        schedule();
      });
    return true;
  };
  const step = () => {
    timer = undefined;
    if (stopped) return;
    try {
      const t0 = performance.now();
      const more = purgeStep.immediate();
      if (!more) {
        // The last steps' pages are checkpointed too.
        if (sinceSettle > 0) settle();
        return;
      }
      sinceSettle += performance.now() - t0;
    } catch (error) {
      // Tried again in a second (or at the next start): the room is already gone for readers.
      console.error(`room purge failed: ${(error as Error).message}`);
      timer = setTimeout(step, 1000);
      return;
    }
    if (sinceSettle >= PURGE_SETTLE_MS && settle()) return;
    timer = setTimeout(step, 0);
  };
  const schedule = () => {
    if (!stopped && !settling) timer ??= setTimeout(step, 0);
  };
  schedule();

  return {
    deleteRoom(id) {
      sqlite.run("PRAGMA foreign_keys = OFF");
      try {
        if (!remove.immediate(id)) return false;
      } finally {
        sqlite.run("PRAGMA foreign_keys = ON");
      }
      schedule();
      return true;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
