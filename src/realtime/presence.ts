// Who is in which room on this instance: a user counts once however many sockets they have open.
import type { PresenceUser } from "./protocol.ts";

export interface Presence {
  /** Adds a socket; `first` is true when it is the user's first socket in the room. */
  join(roomId: number, userId: number, username: string): { first: boolean };
  /** Removes a socket; `last` is true when it was the user's last socket in the room. */
  leave(roomId: number, userId: number): { last: boolean };
  list(roomId: number): PresenceUser[];
}

export function createLocalPresence(): Presence {
  const rooms = new Map<number, Map<number, { username: string; sockets: number }>>();
  return {
    join(roomId, userId, username) {
      let users = rooms.get(roomId);
      if (!users) rooms.set(roomId, (users = new Map()));
      const entry = users.get(userId);
      if (entry) {
        entry.sockets++;
        return { first: false };
      }
      users.set(userId, { username, sockets: 1 });
      return { first: true };
    },
    leave(roomId, userId) {
      const users = rooms.get(roomId);
      const entry = users?.get(userId);
      if (!users || !entry) return { last: false };
      if (--entry.sockets > 0) return { last: false };
      users.delete(userId);
      if (users.size === 0) rooms.delete(roomId);
      return { last: true };
    },
    list(roomId) {
      return [...(rooms.get(roomId) ?? [])].map(([userId, { username }]) => ({ user_id: userId, username }));
    },
  };
}
