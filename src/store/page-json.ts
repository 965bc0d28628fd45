// The hot history read, shared by both stores: positional rows (times as epoch milliseconds) rendered straight
// to the HTTP history JSON, with no ORM mapping and no per-field validation.
import type { MessageWithAuthor, Role } from "./store.ts";

/** id, content, created_at, user_id, room_id, client_id, edited_at, username, role, user created_at */
export type PageRow = [number, string, number, number, number, string | null, number | null, string, string, number];

const iso = (ms: number) => new Date(ms).toISOString();

/** Field for field what toMessageJson produces. */
export function renderPage(rows: readonly PageRow[]): string {
  return JSON.stringify(
    rows.map(([id, content, createdAt, userId, roomId, clientId, editedAt, username, role, userCreatedAt]) => ({
      id,
      content,
      timestamp: iso(createdAt),
      user_id: userId,
      room_id: roomId,
      client_id: clientId,
      edited_at: editedAt === null ? null : iso(editedAt),
      user: { id: userId, username, role, created_at: iso(userCreatedAt) },
    })),
  );
}

/** The record a page row stands for (search results go through toMessageJson with their snippet). */
export function pageRowToMessage(row: PageRow): MessageWithAuthor {
  const [id, content, createdAt, userId, roomId, clientId, editedAt, username, role, userCreatedAt] = row;
  return {
    id,
    roomId,
    userId,
    content,
    clientId,
    createdAt: new Date(createdAt),
    editedAt: editedAt === null ? null : new Date(editedAt),
    author: { id: userId, username, role: role as Role, createdAt: new Date(userCreatedAt) },
  };
}
