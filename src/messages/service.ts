// Messages: history pages with cursors, posting through the writer, edits and deletes.
import { AppError } from "../errors.ts";
import { MissingReferenceError, type HistoryQuery, type MessageWithAuthor, type Store, type UserRecord } from "../store/store.ts";
import type { Clock } from "../clock.ts";
import type { RoomEvents } from "./events.ts";
import { assertStorableText, MESSAGE_LIMITS, normalizeContent } from "./model.ts";
import type { MessageWriter } from "./writer.ts";

export interface PageRequest {
  limit?: number;
  skip?: number;
  before?: number;
  after?: number;
}

export type MessageService = ReturnType<typeof createMessageService>;

export function createMessageService(deps: { store: Store; writer: MessageWriter; events: RoomEvents; clock: Clock }) {
  const { store, writer, events, clock } = deps;

  return {
    /**
     * A page as the HTTP history JSON, rendered by the database. Newest first; with `after`, oldest first
     * (paging forward). At most one of before/after/skip.
     */
    async history(roomId: number, page: PageRequest): Promise<string> {
      const given = [page.before, page.after, page.skip].filter((v) => v !== undefined).length;
      if (given > 1) throw new AppError("CURSOR_CONFLICT");
      const limit = page.limit ?? MESSAGE_LIMITS.pageDefault;
      const query: HistoryQuery =
        page.before !== undefined
          ? { limit, before: page.before }
          : page.after !== undefined
            ? { limit, after: page.after }
            : { limit, skip: page.skip ?? 0 };
      const { json, count } = await store.listMessagesJson(roomId, query);
      // Only an empty page needs to tell "no messages" from "no room".
      if (count === 0 && !(await store.findRoom(roomId))) throw new AppError("ROOM_NOT_FOUND");
      return json;
    },

    async post(roomId: number, author: UserRecord, rawContent: string, clientId: string | null): Promise<MessageWithAuthor> {
      const content = normalizeContent(rawContent);
      if (clientId !== null) assertStorableText(clientId, "client_id");
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
      const message = await store.findMessage(id);
      if (!message) throw new AppError("MESSAGE_NOT_FOUND");
      if (message.userId !== user.id) throw new AppError("NOT_AUTHOR");
      const updated = await store.updateMessage(id, content, new Date(clock()));
      if (!updated) throw new AppError("MESSAGE_NOT_FOUND");
      events.messageUpdated(updated, user);
      return { ...updated, author: user };
    },

    async remove(id: number, user: UserRecord): Promise<void> {
      const message = await store.findMessage(id);
      if (!message) throw new AppError("MESSAGE_NOT_FOUND");
      if (message.userId !== user.id && user.role !== "admin") throw new AppError("NOT_AUTHOR");
      if (!(await store.deleteMessage(id))) throw new AppError("MESSAGE_NOT_FOUND");
      events.messageDeleted(message);
    },
  };
}
