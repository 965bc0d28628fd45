// Read positions: how far each person has read each room, the same in every tab. Set over HTTP (written at once)
// or over a room's socket (coalesced: at most one write per room per user per READ_WRITE_INTERVAL_MS).
import type { Clock } from "../clock.ts";
import type { RoomEvents } from "../messages/events.ts";
import type { RoomAccessControl } from "../rooms/access.ts";
import type { Store, UserRecord } from "../store/store.ts";

/** A socket's read frames for one room are written at most this often per user; the newest id wins. */
export const READ_WRITE_INTERVAL_MS = 1000;

export type ReadService = ReturnType<typeof createReadService>;

export function createReadService(deps: { store: Store; access: RoomAccessControl; clock: Clock; events: RoomEvents }) {
  const { store, access, clock, events } = deps;

  /**
   * Moves the position forward (an older id changes nothing; one past the newest message stops there) and tells
   * the user's other sockets, on every instance. `origin`: the socket that asked, which is not told.
   */
  async function markRead(
    user: UserRecord,
    roomId: number,
    messageId: number,
    origin?: object,
  ): Promise<number | null> {
    await access.read(user, roomId);
    const { position, moved } = await store.setReadPosition(user.id, roomId, messageId, new Date(clock()));
    if (moved && position !== null) events.readMoved(user.id, roomId, position, origin);
    return position;
  }

  /** Per user and room: the newest id asked for since the last write, while a write is in its interval. */
  const coalescing = new Map<string, { user: UserRecord; newest: number | undefined; origin: object; timer: Timer }>();

  function writeThenWait(
    key: string,
    user: UserRecord,
    roomId: number,
    messageId: number,
    origin: object,
    onError: (error: unknown) => void,
  ) {
    markRead(user, roomId, messageId, origin).catch(onError);
    const timer = setTimeout(() => {
      const entry = coalescing.get(key)!;
      coalescing.delete(key);
      if (entry.newest !== undefined) writeThenWait(key, entry.user, roomId, entry.newest, entry.origin, onError);
    }, READ_WRITE_INTERVAL_MS);
    coalescing.set(key, { user, newest: undefined, origin, timer });
  }

  return {
    markRead,

    /** From a socket: the first read frame is written at once, later ones within the interval together after it. */
    markReadSoon(
      user: UserRecord,
      roomId: number,
      messageId: number,
      origin: object,
      onError: (error: unknown) => void,
    ): void {
      const key = `${user.id}:${roomId}`;
      const entry = coalescing.get(key);
      if (!entry) return writeThenWait(key, user, roomId, messageId, origin, onError);
      entry.newest = Math.max(entry.newest ?? 0, messageId);
      entry.origin = origin;
    },

    /** Writes what is waiting (shutdown). */
    async flush(): Promise<void> {
      const waiting = [...coalescing.entries()];
      coalescing.clear();
      await Promise.all(
        waiting.map(([key, { user, newest, timer }]) => {
          clearTimeout(timer);
          const roomId = Number(key.slice(key.indexOf(":") + 1));
          return newest === undefined ? undefined : markRead(user, roomId, newest).catch(() => {});
        }),
      );
    },
  };
}
