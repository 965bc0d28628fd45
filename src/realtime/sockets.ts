// The room sockets of this instance, by room and by user: who is here, and closing or telling them by either.
import type { ServerWebSocket } from "bun";
import type { UserRecord } from "../store/store.ts";
import { CLOSE } from "./protocol.ts";

export interface Session {
  user: UserRecord;
  roomId: number;
  /** The `since=` of the handshake: history after this id instead of the last messages. */
  since?: number;
  /** Epoch ms when the token expires; the socket is closed with 1008 then. */
  expiresAt: number;
  joined: boolean;
  closed: boolean;
  lastTypingAt: number;
  expiryTimer?: ReturnType<typeof setTimeout>;
  /** Until the token has been checked again once the socket is tracked (Hub.track): frames wait for it. */
  admission?: Promise<boolean>;
}

export type LiveSocket = ServerWebSocket<{ session: Session }>;

export interface SocketRegistry {
  /** Sockets by room; a room is here while it has at least one. */
  readonly rooms: ReadonlyMap<number, ReadonlySet<LiveSocket>>;
  /** Sockets by user; a user is here while they have at least one. */
  readonly users: ReadonlyMap<number, ReadonlySet<LiveSocket>>;
  add(ws: LiveSocket): void;
  remove(ws: LiveSocket): void;
  has(roomId: number): boolean;
  /** Whether the user has a socket here that has joined the room (and so has not left it, whatever others say). */
  joinedHere(roomId: number, userId: number): boolean;
  sendToUser(userId: number, json: string, except?: object): void;
  closeRoom(roomId: number): void;
  closeMember(roomId: number, userId: number): void;
  /** Frames already received but not yet handled are dropped from then on, not stored. */
  closeUser(userId: number, code: number, reason: string): void;
  readonly socketCount: number;
}

export function createSocketRegistry(): SocketRegistry {
  const rooms = new Map<number, Set<LiveSocket>>();
  const users = new Map<number, Set<LiveSocket>>();
  const add = <K>(map: Map<K, Set<LiveSocket>>, key: K, ws: LiveSocket) => {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(ws);
  };
  const remove = <K>(map: Map<K, Set<LiveSocket>>, key: K, ws: LiveSocket) => {
    const set = map.get(key);
    if (set?.delete(ws) && set.size === 0) map.delete(key);
  };

  return {
    rooms,
    users,
    add(ws) {
      add(rooms, ws.data.session.roomId, ws);
      add(users, ws.data.session.user.id, ws);
    },
    remove(ws) {
      remove(rooms, ws.data.session.roomId, ws);
      remove(users, ws.data.session.user.id, ws);
    },
    has: (roomId) => rooms.has(roomId),
    joinedHere(roomId, userId) {
      for (const ws of users.get(userId) ?? [])
        if (ws.data.session.roomId === roomId && ws.data.session.joined) return true;
      return false;
    },
    sendToUser(userId, json, except) {
      for (const ws of users.get(userId) ?? []) if (ws !== except && !ws.data.session.closed) ws.send(json);
    },
    closeRoom(roomId) {
      for (const ws of [...(rooms.get(roomId) ?? [])]) ws.close(CLOSE.ROOM_DELETED, "room deleted");
    },
    closeMember(roomId, userId) {
      for (const ws of [...(rooms.get(roomId) ?? [])]) {
        if (ws.data.session.user.id === userId) ws.close(CLOSE.REMOVED_FROM_ROOM, "removed from the room");
      }
    },
    closeUser(userId, code, reason) {
      for (const ws of [...(users.get(userId) ?? [])]) {
        ws.data.session.closed = true;
        ws.close(code, reason);
      }
    },
    get socketCount() {
      let n = 0;
      for (const sockets of rooms.values()) n += sockets.size;
      return n;
    },
  };
}
