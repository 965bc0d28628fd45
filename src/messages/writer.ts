// The message writer: group commit. Messages that arrive while a commit is in flight are stored together in
// the next one, so throughput is not one database round trip per message. Nothing is published or resolved
// before its commit.
import type { Clock } from "../clock.ts";
import { MissingReferenceError, type StoredMessage, type Store } from "../store/store.ts";
import type { Author, RoomEvents } from "./events.ts";

export interface MessageDraft {
  roomId: number;
  author: Author;
  content: string;
  clientId: string | null;
}

interface Pending {
  draft: MessageDraft;
  createdAt: Date;
  resolve(stored: StoredMessage): void;
  reject(error: unknown): void;
}

export interface MessageWriter {
  /** Resolves once the message is committed (and published); rejects with the store's error. */
  write(draft: MessageDraft): Promise<StoredMessage>;
  /** Resolves when everything written so far is committed or refused. */
  drain(): Promise<void>;
  readonly stats: { batches: number; messages: number };
}

export const MAX_BATCH = 256;

export function createMessageWriter(deps: { store: Store; clock: Clock; events: RoomEvents; maxBatch?: number }): MessageWriter {
  const { store, clock, events } = deps;
  const maxBatch = deps.maxBatch ?? MAX_BATCH;
  let queue: Pending[] = [];
  let running: Promise<void> | undefined;
  const stats = { batches: 0, messages: 0 };

  async function commit(batch: Pending[]): Promise<void> {
    let stored: StoredMessage[];
    try {
      stored = await store.insertMessages(
        batch.map((p) => ({
          roomId: p.draft.roomId,
          userId: p.draft.author.id,
          content: p.draft.content,
          clientId: p.draft.clientId,
          createdAt: p.createdAt,
        })),
      );
    } catch (error) {
      // One message for a room deleted meanwhile must not sink the others: retry them one by one.
      if (error instanceof MissingReferenceError && batch.length > 1) {
        for (const p of batch) await commit([p]);
        return;
      }
      for (const p of batch) p.reject(error);
      return;
    }
    stats.batches++;
    stats.messages += batch.length;
    const fresh = stored.flatMap((s, i) => (s.duplicate ? [] : [{ record: s.record, author: batch[i]!.draft.author }]));
    if (fresh.length > 0) events.messagesStored(fresh);
    batch.forEach((p, i) => p.resolve(stored[i]!));
  }

  async function run(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      await commit(batch);
    }
    running = undefined;
  }

  return {
    stats,
    write(draft) {
      return new Promise<StoredMessage>((resolve, reject) => {
        queue.push({ draft, createdAt: new Date(clock()), resolve, reject });
        // Start after the current I/O poll: every frame that arrived in it joins the first commit.
        running ??= new Promise<void>((started) => setImmediate(started)).then(run);
      });
    },
    async drain() {
      while (running) await running;
    },
  };
}
