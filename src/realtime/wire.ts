// The live protocol as both ends see it: limits, close codes, the frame builders, and every frame's type. The
// browser client (src/web/client) bundles this module, so it has only type imports: server code stays out.
import type { toMessageFrame } from "../messages/model.ts";
import type { personFrames } from "./person.ts";

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

/**
 * What a client may send on a room socket (the person socket takes only `auth`). `type` may be left out of a
 * message, as the seed's clients do. protocol.ts reads frames by these field names.
 */
export type ClientWireFrame =
  | { type?: "message"; content: string; client_id?: string | null }
  | { type: "typing" }
  | { type: "read"; message_id: number }
  | { type: "auth"; token: string };

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
    clientId === undefined
      ? { type: "error" as const, code, detail }
      : { type: "error" as const, code, detail, client_id: clientId },
  typing: (userId: number, username: string) => ({ type: "typing" as const, user_id: userId, username }),
  sync: (complete: boolean) => ({ type: "sync" as const, complete }),
  authOk: (expiresAt: number) => ({ type: "auth_ok" as const, expires_at: new Date(expiresAt).toISOString() }),
  deleted: (id: number, roomId: number) => ({ type: "message_deleted" as const, id, room_id: roomId }),
};

/** The frame each builder of `builders` makes. */
type Built<Builders extends Record<string, (...args: never[]) => object>> = ReturnType<Builders[keyof Builders]>;

/** A stored message as the live `message` frame carries it (messages/model.ts builds it). */
export type MessageFrame = ReturnType<typeof toMessageFrame>;

/** An edited message: the `message` frame's fields under another type (realtime/publisher.ts builds it). */
export type MessageUpdatedFrame = Omit<MessageFrame, "type"> & { type: "message_updated" };

/** Every frame a room socket (GET /ws/{room_id}) sends. */
export type RoomServerFrame = MessageFrame | MessageUpdatedFrame | Built<typeof frames>;

/** Every frame the person socket (GET /ws) sends (realtime/person.ts). */
export type PersonServerFrame = Built<typeof personFrames> | ReturnType<(typeof frames)["read" | "authOk" | "error"]>;
