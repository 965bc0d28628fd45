// Messages: history pages with cursors, posting through the writer, edits and deletes.
import type { Cache } from "../cache.ts";
import { AppError } from "../errors.ts";
import {
  MissingReferenceError,
  type HistoryQuery,
  type MessageWithAuthor,
  type Store,
  type UserRecord,
} from "../store/store.ts";
import type { Clock } from "../clock.ts";
import type { RoomAccessControl } from "../rooms/access.ts";
import type { RoomEvents } from "./events.ts";
import { assertStorableText, MESSAGE_LIMITS, normalizeContent } from "./model.ts";
import type { MessageRateLimit } from "./rate-limit.ts";
import type { MessageWriter } from "./writer.ts";

export interface PageRequest {
  limit?: number;
  skip?: number;
  before?: number;
  after?: number;
}

export type MessageService = ReturnType<typeof createMessageService>;

/** Rendered newest pages, by room and then limit, as the UTF-8 body. */
export type PageCache = Cache<number, number, Uint8Array<ArrayBuffer>>;
/** Bytes of newest pages kept at most, all rooms and limits together (a page of 50 is about 15 KB). */
export const PAGE_CACHE_BYTES = 32 * 1024 * 1024;

export function createMessageService(deps: {
  store: Store;
  writer: MessageWriter;
  events: RoomEvents;
  clock: Clock;
  /** The author's budget, shared with their sockets. */
  rateLimit: MessageRateLimit;
  /** The newest page of a room (no cursor, no skip) is what every client opening the room reads. */
  pages?: PageCache;
  access: RoomAccessControl;
}) {
  const { store, writer, events, clock, rateLimit, pages, access } = deps;

  /** The message, if `user` may read its room; else MESSAGE_NOT_FOUND, as for a message that does not exist. */
  async function readableMessage(id: number, user: UserRecord) {
    const message = await store.findMessage(id);
    if (!message) throw new AppError("MESSAGE_NOT_FOUND");
    await access.read(user, message.roomId).catch(() => {
      throw new AppError("MESSAGE_NOT_FOUND");
    });
    return message;
  }
  const encoder = new TextEncoder();

  async function readPage(roomId: number, query: HistoryQuery): Promise<Uint8Array<ArrayBuffer>> {
    const { json, count } = await store.listMessagesJson(roomId, query);
    // Only an empty page needs to tell "no messages" from "no room".
    if (count === 0 && !(await store.findRoom(roomId))) throw new AppError("ROOM_NOT_FOUND");
    return encoder.encode(json);
  }

  return {
    /**
     * A page as the HTTP history JSON (UTF-8). Newest first; with `after`, oldest first (paging forward). At most
     * one of before/after/skip.
     */
    async history(user: UserRecord, roomId: number, page: PageRequest): Promise<Uint8Array<ArrayBuffer>> {
      await access.read(user, roomId);
      const given = [page.before, page.after, page.skip].filter((v) => v !== undefined).length;
      if (given > 1) throw new AppError("CURSOR_CONFLICT");
      const limit = page.limit ?? MESSAGE_LIMITS.pageDefault;
      const query: HistoryQuery =
        page.before !== undefined
          ? { limit, before: page.before }
          : page.after !== undefined
            ? { limit, after: page.after }
            : { limit, skip: page.skip ?? 0 };
      if (pages && "skip" in query && query.skip === 0) return pages.read(roomId, limit, () => readPage(roomId, query));
      return readPage(roomId, query);
    },

    async post(
      roomId: number,
      author: UserRecord,
      rawContent: string,
      clientId: string | null,
    ): Promise<MessageWithAuthor> {
      const content = normalizeContent(rawContent);
      if (clientId !== null) assertStorableText(clientId, "client_id");
      await access.read(author, roomId);
      // Only what would be stored spends the budget (as on the socket).
      const wait = rateLimit.take(author.id);
      if (wait > 0)
        throw new AppError("RATE_LIMITED", { detail: rateLimit.detail, headers: { "retry-after": String(wait) } });
      try {
        const { record } = await writer.write({ roomId, author, content, clientId });
        return { ...record, author };
      } catch (error) {
        if (error instanceof MissingReferenceError) throw new AppError("ROOM_NOT_FOUND");
        throw error;
      }
    },

    async edit(id: number, user: UserRecord, rawContent: string): Promise<MessageWithAuthor> {
      const content = normalizeContent(rawContent);
      const message = await readableMessage(id, user);
      if (message.userId !== user.id) throw new AppError("NOT_AUTHOR");
      const updated = await store.updateMessage(id, content, new Date(clock()));
      if (!updated) throw new AppError("MESSAGE_NOT_FOUND");
      events.messageUpdated(updated, user);
      return { ...updated, author: user };
    },

    async remove(id: number, user: UserRecord): Promise<void> {
      const message = await readableMessage(id, user);
      if (message.userId !== user.id && user.role !== "admin") throw new AppError("NOT_AUTHOR");
      if (!(await store.deleteMessage(id))) throw new AppError("MESSAGE_NOT_FOUND");
      events.messageDeleted(message);
    },
  };
}
