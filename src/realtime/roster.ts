// Who is in a room, told to its sockets here: `active_users` lists (at most one per room per window),
// `user_joined` / `user_left`, and after the bus listener was away the changes it missed.
import type { Clock } from "../clock.ts";
import type { Presence } from "./presence.ts";
import { frames } from "./protocol.ts";
import type { Publisher } from "./publisher.ts";
import type { SocketRegistry } from "./sockets.ts";

/**
 * A room's `active_users` goes out at most once per this window: the first change sends it at once, the changes
 * inside the window are covered by one more list at its end. A join storm (everyone reconnecting after a restart)
 * then costs a few lists of n users, not n of them: O(n^2) bytes, 1.7 GB for a room of 500 users.
 */
export const ROSTER_WINDOW_MS = 100;

export interface Roster {
  /**
   * The seed's order: active_users then user_joined on a join; user_left then active_users on a leave. Inside a
   * room's roster window the list comes at the window's end instead (ROSTER_WINDOW_MS), after the joined frame.
   */
  announce(
    roomId: number,
    change: "joined" | "left",
    user: { id: number; username: string },
    at: number,
  ): Promise<void>;
  /** The room's list, now or at the end of its window. */
  send(roomId: number): Promise<void> | undefined;
  /**
   * After the listener was away: the joins and leaves it missed, found by comparing the room's list with what
   * this instance last told the room (at the time of the resend, not when they happened), then the list.
   */
  resend(roomId: number): Promise<void>;
  /** The room's last socket here has gone. */
  forget(roomId: number): void;
  /** No more lists at the end of windows. */
  stop(): void;
}

export function createRoster(deps: {
  presence: Presence;
  clock: Clock;
  sockets: SocketRegistry;
  publisher: Publisher;
}): Roster {
  const { presence, clock, sockets, publisher } = deps;
  const publish = publisher.frame;
  let stopped = false;
  /** Who the sockets here were last told is in each room (by lists, joins and leaves): what a resend compares with. */
  const told = new Map<number, Map<number, string>>();
  /** Rooms inside a roster window, and whether a change since the window's list is still to be sent. */
  const windows = new Map<number, { due: boolean }>();

  async function publishRoster(roomId: number): Promise<void> {
    const list = await presence.list(roomId);
    if (sockets.has(roomId)) told.set(roomId, new Map(list.map((u) => [u.user_id, u.username])));
    publish(roomId, frames.activeUsers(list));
  }

  function send(roomId: number): Promise<void> | undefined {
    const window = windows.get(roomId);
    if (window) {
      window.due = true;
      return undefined;
    }
    const opened = { due: false };
    windows.set(roomId, opened);
    const closeLater = () =>
      setTimeout(() => {
        if (!opened.due || stopped) return void windows.delete(roomId);
        opened.due = false;
        // The list read now sees every change made inside the window; it opens the next window.
        publishRoster(roomId)
          .catch(() => {})
          .finally(closeLater);
      }, ROSTER_WINDOW_MS).unref?.();
    return publishRoster(roomId).finally(closeLater);
  }

  return {
    async announce(roomId, change, user, at) {
      if (change === "left") {
        told.get(roomId)?.delete(user.id);
        publish(roomId, frames.left(user.username, new Date(at)));
      }
      await send(roomId);
      if (change === "joined") {
        told.get(roomId)?.set(user.id, user.username);
        publish(roomId, frames.joined(user.username, new Date(at)));
      }
    },
    send,
    async resend(roomId) {
      const list = await presence.list(roomId);
      // After the read: what the room was told meanwhile counts. Then the frames go out together, in the seed's order.
      const before = told.get(roomId);
      if (!sockets.has(roomId)) return;
      const now = new Date(clock());
      const present = new Set(list.map((u) => u.user_id));
      for (const [id, username] of before ?? []) if (!present.has(id)) publish(roomId, frames.left(username, now));
      told.set(roomId, new Map(list.map((u) => [u.user_id, u.username])));
      publish(roomId, frames.activeUsers(list));
      for (const u of list) if (before && !before.has(u.user_id)) publish(roomId, frames.joined(u.username, now));
    },
    forget(roomId) {
      told.delete(roomId);
    },
    stop() {
      stopped = true;
    },
  };
}
