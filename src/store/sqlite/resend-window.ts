// The SQLite store's resend check: which stored message a (room, author, client_id) names, for the newest
// RESEND_WINDOW messages, in memory instead of a unique index on messages. That index dirtied a page per sender in
// every group commit (docs/benchmarks.md, issue 21); SQLite serves one instance, so one process sees every write.
import type { Database } from "bun:sqlite";

/**
 * A resend is answered with its original's id while the original is among the newest RESEND_WINDOW messages of
 * the database (by id) and not deleted; an older one is stored as a new message. About 55 bytes of memory each.
 */
export const RESEND_WINDOW = 500_000;

export interface ResendWindow {
  /** The id of the message stored with this key, still there, inside the window (or staged in this transaction). */
  find(roomId: number, userId: number, clientId: string): number | undefined;
  /** Inside a write transaction: the new message `id` has this key (every new message is staged, with or without). */
  stage(roomId: number, userId: number, clientId: string | null, id: number): void;
  /** After the transaction commits: its staged keys join the window. */
  commit(): void;
  /** After it rolls back: its staged keys are forgotten. */
  rollback(): void;
}

const keyOf = (roomId: number, userId: number, clientId: string) => `${roomId}:${userId}:${clientId}`;
/** 53 bits of two 32-bit hashes: a number key (a string key costs 130 bytes an entry, this 55). */
const hashOf = (key: string) => Bun.hash.murmur32v3(key, 0) * 2 ** 21 + (Bun.hash.murmur32v3(key, 1) & 0x1f_ffff);

/**
 * Rebuilt from the table's newest rows when the store opens (about 0.1 s per 100,000). Every hit is checked against
 * the row itself, so a deleted original or a hash collision is never taken for a resend; two keys whose hashes
 * collide both stay exact (the second is kept by its full key).
 */
/** `hash` is for tests (a constant makes every key collide). */
export function createResendWindow(
  sqlite: Database,
  size = RESEND_WINDOW,
  hash: (key: string) => number = hashOf,
): ResendWindow {
  const byHash = new Map<number, number>();
  /** Keys whose hash another key in the window already has: rare. */
  const collided = new Map<string, number>();
  let staged: { hash: number; key: string; id: number; collides: boolean }[] = [];
  const stagedIds = new Map<string, number>();
  /** Hashes staged under byHash (not as collisions) in this transaction. */
  const stagedHashes = new Set<number>();
  /** The newest id stored: the window is the ids above newest - size. */
  let newest = 0;
  let stagedNewest = 0;

  const matches = sqlite.query<{ n: number }, [number, number, number, string]>(
    // Its room must exist too: a deleted room's messages wait for the purge (room-purge.ts), and a resend there is
    // refused as the room's other messages are.
    `SELECT 1 AS n FROM messages m WHERE id = ? AND room_id = ? AND user_id = ? AND client_id = ?
     AND EXISTS (SELECT 1 FROM rooms r WHERE r.id = m.room_id)`,
  );
  const holds = (id: number | undefined, roomId: number, userId: number, clientId: string) =>
    id !== undefined &&
    id > Math.max(newest, stagedNewest) - size &&
    matches.get(id, roomId, userId, clientId) !== null;

  const add = (hash: number, key: string, id: number, collides: boolean) => {
    if (collides) collided.set(key, id);
    else byHash.set(hash, id);
    newest = Math.max(newest, id);
  };
  const evict = () => {
    const oldest = newest - size;
    // Both maps hold their keys in id order (Map keeps insertion order), oldest first.
    for (const [hash, id] of byHash) {
      if (id > oldest) break;
      byHash.delete(hash);
    }
    for (const [key, id] of collided) {
      if (id > oldest) break;
      collided.delete(key);
    }
  };

  const tail = sqlite.query<{ id: number; room_id: number; user_id: number; client_id: string }, [number]>(
    "SELECT id, room_id, user_id, client_id FROM messages WHERE id > ? AND client_id IS NOT NULL ORDER BY id",
  );
  // sqlite_sequence: the newest id ever given, even if that message was deleted since.
  const last =
    sqlite.query<{ id: number | null }, []>("SELECT max(seq) AS id FROM sqlite_sequence WHERE name = 'messages'").get()
      ?.id ?? 0;
  newest = last;
  for (const row of tail.iterate(last - size)) {
    const key = keyOf(row.room_id, row.user_id, row.client_id);
    const h = hash(key);
    add(h, key, row.id, byHash.has(h));
  }

  return {
    find(roomId, userId, clientId) {
      const key = keyOf(roomId, userId, clientId);
      const candidates = [stagedIds.get(key), collided.get(key), byHash.get(hash(key))];
      return candidates.find((id) => holds(id, roomId, userId, clientId));
    },
    stage(roomId, userId, clientId, id) {
      stagedNewest = Math.max(stagedNewest, id);
      if (clientId === null) return;
      const key = keyOf(roomId, userId, clientId);
      const h = hash(key);
      // Another key with this hash in the window (or staged): this one is kept by its full key.
      const collides = byHash.has(h) || stagedHashes.has(h);
      if (!collides) stagedHashes.add(h);
      staged.push({ hash: h, key, id, collides });
      stagedIds.set(key, id);
    },
    commit() {
      for (const s of staged) {
        // The same key again (its original was deleted): the newer message takes its place.
        collided.delete(s.key);
        add(s.hash, s.key, s.id, s.collides);
      }
      newest = Math.max(newest, stagedNewest);
      staged = [];
      stagedIds.clear();
      stagedHashes.clear();
      evict();
    },
    rollback() {
      stagedNewest = newest;
      staged = [];
      stagedIds.clear();
      stagedHashes.clear();
    },
  };
}
