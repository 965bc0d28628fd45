// Whether the sockets here may stay open: the token re-check when a socket is tracked, revocations (logout, role
// change) that close a user's sockets on every instance, and the re-check of every socket after the bus
// listener missed events.
import type { Store, UserRecord } from "../store/store.ts";
import type { FanoutBus } from "./bus.ts";
import type { Presence } from "./presence.ts";
import { CLOSE } from "./protocol.ts";
import type { Roster } from "./roster.ts";
import type { LiveSocket, SocketRegistry } from "./sockets.ts";

/**
 * The longest a logout or role change waits for the other instances to say they closed the user's sockets. One
 * that does not answer by then (paused, or its listener away) closes them when it hears the event, or checks
 * every socket when its listener is back.
 */
export const REVOKE_WAIT_MS = 2_000;

export interface SessionChecks {
  /** The token check of a socket just tracked: true when it may go on, false when it was closed. */
  admit(ws: LiveSocket): Promise<boolean>;
  /**
   * The events other than messages are not kept anywhere to be read again, but what they change is: after a
   * reconnect every local socket is checked as those events would have checked it.
   */
  recheck(): Promise<void>;
  /** Closes a user's sockets here and on every other instance; resolves once they all answered (or REVOKE_WAIT_MS). */
  revoke(userId: number): Promise<void>;
  /** Another instance revoked the user's tokens: their sockets here close and it is told so. */
  revokedElsewhere(userId: number, ref: string): void;
  /** Another instance closed the sockets of a revocation made here. */
  acknowledged(ref: string, origin: string): void;
}

export function createSessionChecks(deps: {
  store: Store;
  bus: FanoutBus;
  presence: Presence;
  sockets: SocketRegistry;
  roster: Roster;
}): SessionChecks {
  const { store, bus, presence, sockets, roster } = deps;

  /**
   * The token re-check of sockets just tracked (see Hub.track), per user: one read at a time, and the sockets
   * tracked while one runs share the next, which starts after they were all tracked (what makes the check sound).
   * A reconnect storm of someone's hundred tabs costs two reads, not a hundred.
   */
  const userReads = new Map<number, { tail: Promise<void>; queued?: Promise<UserRecord | undefined> }>();
  function readUserAfterTracked(userId: number): Promise<UserRecord | undefined> {
    let state = userReads.get(userId);
    if (!state) userReads.set(userId, (state = { tail: Promise.resolve() }));
    if (state.queued) return state.queued;
    const entry = state;
    const queued = entry.tail.then(() => {
      entry.queued = undefined;
      return store.findUserById(userId);
    });
    entry.queued = queued;
    const tail = queued.then(
      () => {},
      () => {},
    );
    entry.tail = tail;
    void tail.then(() => entry.tail === tail && userReads.get(userId) === entry && userReads.delete(userId));
    return queued;
  }

  /** Revocations this instance waits on: the instances yet to answer. */
  const revocations = new Map<string, Set<string> & { done(): void }>();

  return {
    async admit(ws) {
      const { session } = ws.data;
      const current = await readUserAfterTracked(session.user.id);
      if (current?.tokenVersion !== session.user.tokenVersion) ws.close(CLOSE.POLICY, "token revoked");
      return !session.closed && current?.tokenVersion === session.user.tokenVersion;
    },

    /**
     * A room deleted meanwhile closes its sockets (4404); a token revoked meanwhile (logout, role change, user
     * deleted) closes its user's sockets (1008); a member removed meanwhile from a private room closes theirs there
     * (4403); and each room hears the joins and leaves made elsewhere, then its list (Roster.resend). (Edits and
     * deletes are read from the store's change log in the catch-up; typing that went out meanwhile is lost, and so
     * are member_added / member_removed frames.)
     */
    async recheck() {
      const existing = new Map((await store.listRooms()).map((room) => [room.id, room]));
      for (const roomId of [...sockets.rooms.keys()]) if (!existing.has(roomId)) sockets.closeRoom(roomId);
      await Promise.all(
        [...sockets.rooms].flatMap(([roomId, inRoom]) =>
          existing.get(roomId)?.visibility === "private"
            ? [...inRoom].map(async (ws) => {
                const userId = ws.data.session.user.id;
                if (!(await store.findMemberRole(roomId, userId))) sockets.closeMember(roomId, userId);
              })
            : [],
        ),
      );
      await Promise.all(
        [...sockets.users].map(async ([userId, own]) => {
          const user = await store.findUserById(userId);
          for (const ws of [...own]) {
            if (user?.tokenVersion !== ws.data.session.user.tokenVersion) ws.close(CLOSE.POLICY, "token revoked");
          }
        }),
      );
      await Promise.all([...sockets.rooms.keys()].map((roomId) => roster.resend(roomId)));
    },

    /**
     * Resolves once every other live instance has said it closed them (at most REVOKE_WAIT_MS), so no socket of
     * theirs posts after the change has returned. Sockets still opening check the token version themselves (admit).
     */
    async revoke(userId) {
      sockets.closeUser(userId, CLOSE.POLICY, "token revoked");
      const ref = crypto.randomUUID();
      const peers = await presence.peers?.().catch(() => []);
      if (!peers?.length) return void bus.send({ kind: "revoke", user: userId, ref });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, REVOKE_WAIT_MS);
        function done() {
          clearTimeout(timer);
          revocations.delete(ref);
          resolve();
        }
        revocations.set(ref, Object.assign(new Set(peers), { done }));
        bus.send({ kind: "revoke", user: userId, ref });
      });
    },

    revokedElsewhere(userId, ref) {
      sockets.closeUser(userId, CLOSE.POLICY, "token revoked");
      bus.send({ kind: "revoked", ref });
    },

    acknowledged(ref, origin) {
      const waiting = revocations.get(ref);
      if (waiting?.delete(origin) && waiting.size === 0) waiting.done();
    },
  };
}
