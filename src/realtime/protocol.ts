// The live protocol: limits, close codes, client frame parsing, and the server's frame builders.
import { MAX_ID } from "../ids.ts";
import { isStorableText, MESSAGE_LIMITS } from "../messages/model.ts";

export const WS_LIMITS = {
  /** Frames over this many bytes close the socket with 1009 (Bun enforces it before we see the frame). */
  maxFrameBytes: 16 * 1024,
  /** Messages a joiner gets: the last N without `since`. */
  historyOnJoin: 20,
  /** With `since`, at most this many messages, then a `sync` frame with complete: false. */
  syncMax: 500,
  /** A socket whose unsent buffer passes this is closed with 1013 (checked every sweepMs). */
  sendBufferBytes: 1024 * 1024,
  sweepMs: 250,
  /** Bun drops sends past this; far above sendBufferBytes so the sweep closes a slow socket before any drop. */
  backpressureBytes: 64 * 1024 * 1024,
  /** Typing notices relayed per connection: at most one per this many ms; extras are dropped. */
  typingIntervalMs: 1000,
  /** Server pings idle sockets; Bun closes one that does not answer within this. */
  idleTimeoutSeconds: 120,
} as const;

export const CLOSE = {
  GOING_AWAY: 1001,
  POLICY: 1008, // token expired or revoked
  TOO_BIG: 1009,
  INTERNAL: 1011,
  TRY_AGAIN_LATER: 1013, // too slow to keep up: reconnect with `since`
  REMOVED_FROM_ROOM: 4403, // removed from a private room (or left it)
  ROOM_DELETED: 4404,
} as const;

export type ClientFrame =
  | { type: "message"; content: string; clientId: string | null }
  | { type: "typing" }
  | { type: "read"; messageId: number }
  | { type: "auth"; token: string };

export interface FrameRefusal {
  code: "INVALID_JSON" | "INVALID_FRAME" | "UNKNOWN_TYPE";
  detail: string;
  clientId?: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Turns a frame as Bun hands it over (a string for a text frame, bytes for a binary one) into a frame or a
 * refusal. Some WebSocket clients only send binary frames, so UTF-8 bytes are read exactly like text.
 */
export function parseClientFrame(raw: unknown): ClientFrame | FrameRefusal {
  let frame = raw;
  if (frame instanceof Uint8Array) {
    try {
      frame = utf8.decode(frame);
    } catch {
      return { code: "INVALID_FRAME", detail: "Binary frames must hold UTF-8 JSON, as text frames do" };
    }
  }
  if (typeof frame === "string") {
    try {
      frame = JSON.parse(frame);
    } catch {
      return { code: "INVALID_JSON", detail: "Frame is not valid JSON" };
    }
  }
  if (typeof frame !== "object" || frame === null || Array.isArray(frame)) {
    return { code: "INVALID_FRAME", detail: "Frame must be a JSON object" };
  }
  const { type = "message", content, client_id: clientId } = frame as Record<string, unknown>;
  if (type === "typing") return { type: "typing" };
  if (type === "auth") {
    // Anything but a string is a token that fails to verify: refused, and the socket closed, like a bad token.
    const token = (frame as Record<string, unknown>).token;
    return { type: "auth", token: typeof token === "string" ? token : "" };
  }
  if (type === "read") {
    const messageId = (frame as Record<string, unknown>).message_id;
    if (typeof messageId !== "number" || !Number.isInteger(messageId) || messageId < 1 || messageId > MAX_ID) {
      return { code: "INVALID_FRAME", detail: `message_id must be a message id (an integer from 1 to ${MAX_ID})` };
    }
    return { type: "read", messageId };
  }
  if (type !== "message") return { code: "UNKNOWN_TYPE", detail: `Unknown frame type ${JSON.stringify(type).slice(0, 40)}` };
  const validClientId =
    clientId === undefined || clientId === null ||
    (typeof clientId === "string" && clientId.length > 0 && clientId.length <= MESSAGE_LIMITS.clientIdMax &&
      isStorableText(clientId)); // else one such id in a batch would fail (PostgreSQL) or garble its neighbours' acks
  if (!validClientId) {
    return { code: "INVALID_FRAME", detail: `client_id must be a string of 1-${MESSAGE_LIMITS.clientIdMax} characters, without NUL or lone surrogates` };
  }
  const id = typeof clientId === "string" ? clientId : undefined;
  if (typeof content !== "string") return { code: "INVALID_FRAME", detail: "content must be a string", clientId: id };
  return { type: "message", content, clientId: id ?? null };
}

export const roomTopic = (roomId: number) => `room:${roomId}`;

export interface PresenceUser {
  user_id: number;
  username: string;
}

export const frames = {
  read: (roomId: number, messageId: number) => ({ type: "read" as const, room_id: roomId, message_id: messageId }),
  memberAdded: (userId: number, username: string) => ({ type: "member_added" as const, user_id: userId, username }),
  memberRemoved: (userId: number, username: string) => ({ type: "member_removed" as const, user_id: userId, username }),
  activeUsers: (users: PresenceUser[]) => ({ type: "active_users" as const, users, count: users.length }),
  joined: (username: string, at: Date) => ({
    type: "user_joined" as const,
    username,
    message: `${username} joined the room`,
    timestamp: at.toISOString(),
  }),
  left: (username: string, at: Date) => ({
    type: "user_left" as const,
    username,
    message: `${username} left the room`,
    timestamp: at.toISOString(),
  }),
  ack: (clientId: string, id: number) => ({ type: "ack" as const, client_id: clientId, id }),
  error: (code: string, detail: string, clientId?: string) =>
    clientId === undefined ? { type: "error" as const, code, detail } : { type: "error" as const, code, detail, client_id: clientId },
  typing: (userId: number, username: string) => ({ type: "typing" as const, user_id: userId, username }),
  sync: (complete: boolean) => ({ type: "sync" as const, complete }),
  authOk: (expiresAt: number) => ({ type: "auth_ok" as const, expires_at: new Date(expiresAt).toISOString() }),
  deleted: (id: number, roomId: number) => ({ type: "message_deleted" as const, id, room_id: roomId }),
};
