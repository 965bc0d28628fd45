// Who is in which room on this instance: a user counts once however many sockets they have open.
import type { PresenceUser } from "./protocol.ts";

/** A user's arrival in or departure from a room, at epoch ms `at`. */
export interface PresenceChange {
  roomId: number;
  userId: number;
  username: string;
  at: number;
}

export interface Presence {
  /**
   * Adds a socket; `first` is true when it is the user's first socket in the room on any instance, and then the
   * other instances have been told (this one announces it to its own sockets).
   */
  join(roomId: number, userId: number, username: string, at: number): Promise<{ first: boolean }>;
  /** Removes a socket; `last` as `first` above, for the user's last socket in the room. */
  leave(roomId: number, userId: number, username: string, at: number): Promise<{ last: boolean }>;
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
    *entries(): Generator<{ roomId: number; userId: number; username: string }> {
      for (const [roomId, users] of rooms)
        for (const [userId, { username }] of users) yield { roomId, userId, username };
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
