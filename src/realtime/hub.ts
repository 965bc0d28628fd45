// The live side of one instance: its sockets, one pub/sub topic per room, presence, and the RoomEvents that turn
// stored, edited and deleted messages into frames. Every frame is serialised once and published once per
// instance; the fanout bus carries what other instances must publish to their own sockets.
//
// This file puts the parts together and holds a socket's life (tracked, joined, gone); each part has its file:
//   sockets.ts        the registry of sockets by room and by user
//   publisher.ts      publishing to a room's topic, at most once per message
//   join-replay.ts    the watermarks and recorders, and the history a joining socket is sent
//   cluster-order.ts  commit order across instances, and the catch-up after the bus was away
//   sessions.ts       token re-checks and revocations
//   roster.ts         active_users windows, joins and leaves
//   room-events.ts    RoomEvents and bus events into frames
//   slow-consumers.ts the sweep that closes readers that stopped reading
import type { Server } from "bun";
import type { Clock } from "../clock.ts";
import type { RoomEvents } from "../messages/events.ts";
import type { Store } from "../store/store.ts";
import type { BusEvent, FanoutBus } from "./bus.ts";
import { type ClusterOrder, createClusterOrder } from "./cluster-order.ts";
import { createWatermarks, type JoinReplayDeps } from "./join-replay.ts";
import type { Presence, PresenceChange } from "./presence.ts";
import { frames, roomTopic } from "./protocol.ts";
import { createPublisher, type HubCounters } from "./publisher.ts";
import { createBusEventHandler, createRoomEvents } from "./room-events.ts";
import { createRoster } from "./roster.ts";
import { createSessionChecks } from "./sessions.ts";
import { createSlowConsumerSweep } from "./slow-consumers.ts";
import { createSocketRegistry, type LiveSocket } from "./sockets.ts";

export type { LiveSocket, Session } from "./sockets.ts";

/**
 * What the hub tells the read caches: a room's messages changed; its members (or the room itself: deleted); anything
 * at all may have (roles, a missed bus).
 */
export interface Invalidation {
  room(roomId: number): void;
  members(roomId: number): void;
  everything(): void;
}

export interface HubDeps {
  presence: Presence;
  clock: Clock;
  bus: FanoutBus;
  store: Store;
  invalidate?: Invalidation;
  /** Gets every event from other instances too (the person sockets' channel)... */
  forward?: (event: BusEvent) => void;
  /** ...and is told when the bus listener is back after missing some. */
  forwardReconnected?: () => void;
}

export interface Hub {
  /** What the services call when messages, rooms, members and read positions change. */
  readonly events: RoomEvents;
  readonly counters: Readonly<HubCounters>;
  readonly bus: FanoutBus;
  /** What a joining socket's history is lined up with, and how it subscribes (replayHistory). */
  readonly replay: JoinReplayDeps;
  start(): Promise<void>;
  attach(server: Pick<Server<unknown>, "publish">): void;
  /**
   * Starts tracking a socket (before its history is loaded, so a room delete or revocation reaches it), then
   * checks its token version against the database: true when it may go on, false when it was closed. The
   * handshake's check ran before the socket could be found by a revocation; one that committed in between
   * (logout, role change, on any instance) shows in this read, and one that commits later finds the socket.
   */
  track(ws: LiveSocket): Promise<boolean>;
  /** Stops tracking; the room hears user_left and active_users when it was the user's last socket anywhere. */
  untrack(ws: LiveSocket): Promise<void>;
  /** Relays a typing notice to everyone in the room but the typist, on every instance. */
  typing(ws: LiveSocket): void;
  /**
   * Closes a user's sockets here and on every other instance (logout, role change); resolves once every other
   * live instance has said it closed them (at most REVOKE_WAIT_MS), so no socket of theirs posts after the
   * change has returned. Sockets still opening check the token version themselves (track).
   */
  revoke(userId: number): Promise<void>;
  /** What the cluster presence finds (the other instances were told by it): announced to the sockets here. */
  readonly presenceHandlers: {
    /** Users of an instance that died without saying goodbye left their rooms. */
    expired(gone: PresenceChange[]): void;
    /** This instance's users are back after it was taken for dead; its sockets never saw them leave. */
    restored(roomIds: number[]): void;
  };
  stop(): Promise<void>;
  /** Closes every socket; resolves once their departures are recorded and told to the other instances. */
  closeAll(code: number, reason: string): Promise<unknown>;
  readonly socketCount: number;
  readonly roomCount: number;
}

export function createHub(deps: HubDeps): Hub {
  const { presence, clock, bus, store } = deps;
  const invalidate = deps.invalidate ?? { room() {}, members() {}, everything() {} };
  const counters: HubCounters = { published: 0, delivered: 0, slowConsumersClosed: 0 };
  const sockets = createSocketRegistry();
  const watermarks = createWatermarks();
  const publisher = createPublisher({ sockets, watermarks, clock, counters });
  const roster = createRoster({ presence, clock, sockets, publisher });
  const sweep = createSlowConsumerSweep(sockets, counters);
  const order: ClusterOrder = createClusterOrder({
    clustered: bus.status().kind !== "local",
    store,
    sockets,
    watermarks,
    publisher,
  });
  const sessions = createSessionChecks({ store, bus, presence, sockets, roster });
  const parts = { bus, store, invalidate, sockets, publisher, order, roster, sessions };
  const onBusEvent = createBusEventHandler(parts, deps.forward);

  /** Departures being recorded: a graceful stop waits for them (the socket's close handler starts them too). */
  const departing = new Set<Promise<void>>();
  function untrack(ws: LiveSocket): Promise<void> {
    const done = depart(ws).catch(() => {});
    departing.add(done);
    void done.finally(() => departing.delete(done));
    return done;
  }
  async function depart(ws: LiveSocket): Promise<void> {
    const { session } = ws.data;
    sockets.remove(ws);
    if (!sockets.has(session.roomId)) {
      watermarks.forget(session.roomId);
      roster.forget(session.roomId);
    }
    sweep.settle();
    if (!session.joined) return;
    session.joined = false;
    const at = clock();
    const { last } = await presence.leave(session.roomId, session.user.id, session.user.username, at);
    // The other instances were told by the presence itself; the room's sockets here, if any are left, now.
    if (last && sockets.has(session.roomId)) await roster.announce(session.roomId, "left", session.user, at);
  }

  /**
   * Subscribes a socket whose history has been sent, then announces it as the seed does. Subscribing happens
   * before the first await, so the caller can do it inside a cork.
   */
  async function join(ws: LiveSocket): Promise<void> {
    const { session } = ws.data;
    ws.subscribe(roomTopic(session.roomId));
    session.joined = true;
    const at = clock();
    const { first } = await presence.join(session.roomId, session.user.id, session.user.username, at);
    if (first) {
      await roster.announce(session.roomId, "joined", session.user, at);
    } else if (!session.closed) {
      // Another tab of someone already here: only the new socket needs the list.
      ws.send(JSON.stringify(frames.activeUsers(await presence.list(session.roomId))));
    }
  }

  return {
    events: createRoomEvents(parts),
    counters,
    bus,
    replay: { store, watermarks, publishedUpTo: order.publishedUpTo, publish: order.publish, join },

    async start() {
      // Messages stored before this instance listened are never published here; a joiner reads them.
      order.start(await store.newestMessageId());
      await bus.start({
        event: onBusEvent,
        /**
         * Everything this instance may have missed while its bus listener was away: the messages, read again
         * from the database, and what the other lost events changed (SessionChecks.recheck).
         */
        reconnected(heardAt) {
          invalidate.everything();
          order.catchUp(heardAt);
          // Beside the bus's order, not in it: with many users it takes a while, and live messages need not wait for it.
          void order.untilDone(sessions.recheck);
          deps.forwardReconnected?.();
        },
      });
    },
    attach: publisher.attach,

    async track(ws) {
      sockets.add(ws);
      sweep.watch();
      return sessions.admit(ws);
    },

    untrack,

    typing(ws) {
      const { session } = ws.data;
      const frame = JSON.stringify(frames.typing(session.user.id, session.user.username));
      ws.publish(roomTopic(session.roomId), frame);
      bus.send({ kind: "frame", room: session.roomId, frame });
    },

    revoke(userId) {
      invalidate.everything();
      return sessions.revoke(userId);
    },

    presenceHandlers: {
      expired(gone) {
        for (const { roomId, userId, username, at } of gone) {
          if (sockets.has(roomId)) void roster.announce(roomId, "left", { id: userId, username }, at).catch(() => {});
        }
      },
      restored(roomIds) {
        for (const roomId of roomIds) if (sockets.has(roomId)) void roster.send(roomId)?.catch(() => {});
      },
    },

    stop() {
      order.stop();
      roster.stop();
      return bus.stop();
    },

    closeAll(code, reason) {
      for (const inRoom of [...sockets.rooms.values()]) {
        for (const ws of [...inRoom]) {
          ws.data.session.closed = true;
          ws.close(code, reason);
          void untrack(ws);
        }
      }
      return Promise.all(departing);
    },

    get socketCount() {
      return sockets.socketCount;
    },
    get roomCount() {
      return sockets.rooms.size;
    },
  };
}
