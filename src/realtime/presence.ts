// Who is in which room on this instance: a user counts once however many sockets they have open.
import type { PresenceUser } from "./protocol.ts";

export interface Presence {
  /** Adds a socket; `first` is true when it is the user's first socket in the room (on any instance). */
  join(roomId: number, userId: number, username: string): Promise<{ first: boolean }>;
  /** Removes a socket; `last` is true when it was the user's last socket in the room (on any instance). */
  leave(roomId: number, userId: number): Promise<{ last: boolean }>;
  list(roomId: number): Promise<PresenceUser[]>;
  /** The other live instances (none when this process is the only one). */
  peers?(): Promise<string[]>;
}

/** Counts sockets per (room, user) on this instance; the PostgreSQL presence mirrors these counts into a table. */
export function createSocketCounts() {
  const rooms = new Map<number, Map<number, { username: string; sockets: number }>>();
  return {
    join(roomId: number, userId: number, username: string): { first: boolean } {
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
    leave(roomId: number, userId: number): { last: boolean } {
      const users = rooms.get(roomId);
      const entry = users?.get(userId);
      if (!users || !entry) return { last: false };
      if (--entry.sockets > 0) return { last: false };
      users.delete(userId);
      if (users.size === 0) rooms.delete(roomId);
      return { last: true };
    },
    list(roomId: number): PresenceUser[] {
      return [...(rooms.get(roomId) ?? [])].map(([userId, { username }]) => ({ user_id: userId, username }));
    },
    count(roomId: number, userId: number): number {
      return rooms.get(roomId)?.get(userId)?.sockets ?? 0;
    },
  };
}

export function createLocalPresence(): Presence {
  const counts = createSocketCounts();
  return {
    join: async (roomId, userId, username) => counts.join(roomId, userId, username),
    leave: async (roomId, userId) => counts.leave(roomId, userId),
    list: async (roomId) => counts.list(roomId),
  };
}
