// Message schemas, content rules, and the two JSON shapes: the history item and the live `message` frame.
import { t } from "elysia";
import { UserResponse } from "../auth/model.ts";
import { AppError } from "../errors.ts";
import { Cursor, Decimal, Id } from "../ids.ts";
import { requestObject, responseObject } from "../schemas.ts";
import type { MessageRecord, MessageWithAuthor } from "../store/store.ts";
import type { Author } from "./events.ts";

export const MESSAGE_LIMITS = {
  contentMax: 4000,
  clientIdMax: 64,
  pageDefault: 50,
  pageMax: 100,
  skipMax: 100_000,
} as const;

/** NUL cannot be stored in PostgreSQL text and a lone surrogate cannot be encoded: refuse both, everywhere. */
export const isStorableText = (value: string) => !value.includes("\u0000") && value.isWellFormed();

export function assertStorableText(value: string, field: string): void {
  if (!isStorableText(value)) {
    throw new AppError("TEXT_NOT_STORABLE", { detail: `${field} contains a NUL character or an unpaired surrogate` });
  }
}

/**
 * Text that shows nothing: whitespace, controls, and format or default-ignorable characters (zero-width
 * spaces and joiners, word joiner, BOM, bidi marks, Hangul fillers, variation selectors, ...).
 */
const INVISIBLE_ONLY = /^[\p{White_Space}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]*$/u;

/** Trimmed; empty (nothing visible), over the limit or unstorable is refused. Used by HTTP and WebSocket alike. */
export function normalizeContent(raw: string): string {
  const content = raw.trim();
  assertStorableText(content, "content");
  if (INVISIBLE_ONLY.test(content)) throw new AppError("CONTENT_EMPTY");
  if (content.length > MESSAGE_LIMITS.contentMax) {
    throw new AppError("CONTENT_TOO_LONG", {
      detail: `Message content is over ${MESSAGE_LIMITS.contentMax} characters`,
    });
  }
  return content;
}

export const ClientId = t.String({ minLength: 1, maxLength: MESSAGE_LIMITS.clientIdMax });

export const PostMessageBody = requestObject({
  // The raw string may carry surrounding whitespace; normalizeContent applies the real limit after trimming.
  content: t.String({ maxLength: MESSAGE_LIMITS.contentMax * 2 }),
  client_id: t.Optional(ClientId),
});

export const EditMessageBody = requestObject({ content: t.String({ maxLength: MESSAGE_LIMITS.contentMax * 2 }) });

export const HistoryQuery = t.Object({
  limit: t.Optional(Decimal({ minimum: 1, maximum: MESSAGE_LIMITS.pageMax, default: MESSAGE_LIMITS.pageDefault })),
  skip: t.Optional(Decimal({ minimum: 0, maximum: MESSAGE_LIMITS.skipMax })),
  before: t.Optional(Id),
  after: t.Optional(Cursor),
});

export const MessageResponse = responseObject({
  id: t.Integer(),
  content: t.String(),
  timestamp: t.String({ format: "date-time" }),
  user_id: t.Integer(),
  room_id: t.Integer(),
  client_id: t.Nullable(t.String()),
  edited_at: t.Nullable(t.String({ format: "date-time" })),
  // The seed's user object without the email: an email is its owner's (GET /auth/me) and the admins' (GET /users).
  user: t.Omit(UserResponse, ["email"]),
});

export function toMessageJson(message: MessageWithAuthor) {
  return {
    id: message.id,
    content: message.content,
    timestamp: message.createdAt.toISOString(),
    user_id: message.userId,
    room_id: message.roomId,
    client_id: message.clientId,
    edited_at: message.editedAt?.toISOString() ?? null,
    user: {
      id: message.author.id,
      username: message.author.username,
      role: message.author.role,
      created_at: message.author.createdAt.toISOString(),
    },
  };
}

/** The seed's live `message` frame, plus client_id and edited_at. */
export function toMessageFrame(message: MessageRecord, author: Author) {
  return {
    type: "message" as const,
    id: message.id,
    content: message.content,
    username: author.username,
    user_id: message.userId,
    timestamp: message.createdAt.toISOString(),
    room_id: message.roomId,
    client_id: message.clientId,
    edited_at: message.editedAt?.toISOString() ?? null,
  };
}
