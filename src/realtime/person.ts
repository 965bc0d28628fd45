// The person socket (GET /ws): one per tab, about the person rather than one room. It tells them when a room
// appears for them or goes, when their read position moves, and when a room they can read gets messages (for
// unread badges). Each socket subscribes to one topic per room it can read, so room activity is published once
// per room and commit, and costs nothing for a room nobody watches.
import type { Server, ServerWebSocket } from "bun";
import type { Clock } from "../clock.ts";
import type { RoomEvents } from "../messages/events.ts";
import { toRoomJson } from "../rooms/model.ts";
import type { MessageRecord, RoomListing, Store, UserRecord } from "../store/store.ts";
import { type BusEvent, type BusMessage, busMessages, type FanoutBus } from "./bus.ts";
import { CLOSE, frames, WS_LIMITS } from "./protocol.ts";

export interface PersonSession {
  user: UserRecord;
  expiresAt: number;
  closed: boolean;
  expiryTimer?: ReturnType<typeof setTimeout>;
  /** Rooms gone (deleted, or the person removed) while the socket's room list was being read: not subscribed. */
  goneWhileLoading?: Set<number>;
}

export type PersonSocket = ServerWebSocket<{ session: PersonSession }>;

/** The topic a room's watchers (person sockets of people who can read it) subscribe to. */
export const watchTopic = (roomId: number) => `watch:${roomId}`;

/** What a room_activity frame says of its newest message; the room JSON's `last_message`. */
const PREVIEW_CHARS = 200;

export const personFrames = {
  ready: () => ({ type: "ready" as const }),
  roomAdded: (room: ReturnType<typeof toRoomJson>) => ({ type: "room_added" as const, room }),
  roomRemoved: (roomId: number, reason: "deleted" | "removed") => ({
    type: "room_removed" as const,
    room_id: roomId,
    reason,
  }),
  activity: (
    roomId: number,
    messages: readonly { record: MessageRecord; author: { id: number; username: string } }[],
  ) => {
    const { record: last, author } = messages.at(-1)!;
    return {
      type: "room_activity" as const,
      room_id: roomId,
      messages: messages.map(({ record }) => ({ id: record.id, user_id: record.userId })),
      last_message: {
        id: last.id,
        user_id: author.id,
        username: author.username,
        content: last.content.slice(0, PREVIEW_CHARS),
        timestamp: last.createdAt.toISOString(),
      },
    };
  },
};

export type PersonChannel = ReturnType<typeof createPersonChannel>;

export function createPersonChannel(deps: { store: Store; bus: FanoutBus; clock: Clock }) {
  const { store, bus, clock } = deps;
  let server: Pick<Server<unknown>, "publish" | "subscriberCount"> | undefined;
  const people = new Map<number, Set<PersonSocket>>();
  let sweeper: ReturnType<typeof setInterval> | undefined;

  // As for room sockets (slow-consumers.ts): a reader that stops reading is closed before its buffer grows without bound.
  function sweep() {
    for (const sockets of people.values()) {
      for (const ws of sockets) {
        if (ws.getBufferedAmount() > WS_LIMITS.sendBufferBytes)
          ws.close(CLOSE.TRY_AGAIN_LATER, "too slow to keep up; reconnect");
      }
    }
  }

  const each = function* (userIds?: readonly number[]) {
    for (const [userId, sockets] of people) {
      if (userIds && !userIds.includes(userId)) continue;
      for (const ws of sockets) if (!ws.data.session.closed) yield ws;
    }
  };
  const watched = (roomId: number) => (server?.subscriberCount(watchTopic(roomId)) ?? 0) > 0;

  function sendToUser(userId: number, json: string) {
    for (const ws of each([userId])) ws.send(json);
  }

  function closeUser(userId: number, code: number, reason: string) {
    for (const ws of [...(people.get(userId) ?? [])]) ws.close(code, reason);
  }

  /** A room the people named (null: everyone, a public room) can now read. */
  function roomOpened(room: RoomListing, userIds: readonly number[] | null) {
    for (const ws of each(userIds ?? undefined)) {
      ws.subscribe(watchTopic(room.id));
      ws.send(JSON.stringify(personFrames.roomAdded(toRoomJson(room, ws.data.session.user.id))));
    }
  }

  async function roomOpenedById(roomId: number, userIds: readonly number[] | null) {
    if (people.size === 0 || (userIds && !userIds.some((id) => people.has(id)))) return;
    const [room] = await store.listRoomListings({ readerId: 0, all: true, roomId }); // as anyone sees it
    if (room) roomOpened(room, userIds);
  }

  /** Gone for everyone who watched it (deleted), or for one person (removed). */
  function roomGone(roomId: number, userId?: number) {
    const topic = watchTopic(roomId);
    const json = JSON.stringify(personFrames.roomRemoved(roomId, userId === undefined ? "deleted" : "removed"));
    for (const ws of each(userId === undefined ? undefined : [userId])) {
      ws.data.session.goneWhileLoading?.add(roomId);
      if (!ws.isSubscribed(topic)) continue;
      ws.unsubscribe(topic);
      ws.send(json);
    }
  }

  function publishActivity(stored: readonly { record: MessageRecord; author: { id: number; username: string } }[]) {
    if (!server || people.size === 0) return;
    // A commit holds messages of one or more rooms, each room's in id order: one frame per room.
    let start = 0;
    for (let i = 1; i <= stored.length; i++) {
      const roomId = stored[start]!.record.roomId;
      if (i < stored.length && stored[i]!.record.roomId === roomId) continue;
      if (watched(roomId))
        server.publish(watchTopic(roomId), JSON.stringify(personFrames.activity(roomId, stored.slice(start, i))));
      start = i;
    }
  }

  /** Other instances' messages, for rooms someone watches here: as carried by the bus, or read back. */
  async function remoteActivity(items: readonly BusMessage[]) {
    if (people.size === 0) return;
    const found = await busMessages(
      items.filter(([roomId]) => watched(roomId)),
      (ids) => store.findMessagesByIds(ids),
    );
    publishActivity(found.sort((a, b) => a.record.roomId - b.record.roomId || a.record.id - b.record.id));
  }

  return {
    attach(target: Pick<Server<unknown>, "publish" | "subscriberCount">) {
      server = target;
    },

    /** The RoomEvents the rest of the app calls: the hub's, then what person sockets must hear. */
    wrap(events: RoomEvents): RoomEvents {
      return {
        ...events,
        messagesStored(stored) {
          events.messagesStored(stored);
          publishActivity(stored);
        },
        roomDeleted(roomId) {
          events.roomDeleted(roomId);
          roomGone(roomId);
        },
        membersChanged(roomId, change) {
          events.membersChanged(roomId, change);
          if (change.removed) roomGone(roomId, change.removed.userId);
          if (change.added) void roomOpenedById(roomId, [change.added.userId]).catch(() => {});
        },
        readMoved(userId, roomId, messageId, except) {
          events.readMoved(userId, roomId, messageId, except);
          sendToUser(userId, JSON.stringify(frames.read(roomId, messageId)));
        },
        roomCreated(room, userIds) {
          roomOpened(room, userIds);
          bus.send({ kind: "room_opened", room: room.id, users: userIds });
        },
      };
    },

    /** Another instance's event (the hub passes each one on). */
    busEvent(event: BusEvent) {
      if (event.origin === bus.instanceId) return;
      switch (event.kind) {
        case "messages":
          void remoteActivity(event.items).catch(() => {});
          return;
        case "room_deleted":
          return roomGone(event.room);
        case "members":
          if (event.removed) roomGone(event.room, event.removed.id);
          if (event.added) void roomOpenedById(event.room, [event.added.id]).catch(() => {});
          return;
        case "room_opened":
          void roomOpenedById(event.room, event.users).catch(() => {});
          return;
        case "read":
          return sendToUser(event.user, JSON.stringify(frames.read(event.room, event.message)));
        case "revoke":
          return closeUser(event.user, CLOSE.POLICY, "token revoked");
      }
    },

    /**
     * The bus listener was away: rooms made, joined or left elsewhere meanwhile were missed, and no log keeps them.
     * Every person socket here is closed with 1013; its client reconnects, subscribes afresh and reads the list.
     */
    busReconnected() {
      for (const sockets of [...people.values()]) {
        for (const ws of [...sockets]) ws.close(CLOSE.TRY_AGAIN_LATER, "events were missed; reconnect");
      }
    },

    closeUser,

    closeAll(code: number, reason: string) {
      for (const sockets of [...people.values()]) for (const ws of [...sockets]) ws.close(code, reason);
    },

    get socketCount() {
      let n = 0;
      for (const sockets of people.values()) n += sockets.size;
      return n;
    },

    /** Bun's handlers for every person socket (see realtime/routes.ts). */
    handlers: {
      async open(ws: PersonSocket) {
        const { session } = ws.data;
        let set = people.get(session.user.id);
        if (!set) people.set(session.user.id, (set = new Set()));
        // Tracked before the rooms are read, so a room opened meanwhile still reaches it.
        set.add(ws);
        sweeper ??= setInterval(sweep, WS_LIMITS.sweepMs);
        sweeper.unref?.();
        session.expiryTimer = setTimeout(
          () => ws.close(CLOSE.POLICY, "token expired"),
          Math.max(0, session.expiresAt - clock()),
        );
        session.goneWhileLoading = new Set();
        try {
          const rooms = await store.listRoomListings({ readerId: session.user.id });
          if (session.closed) return;
          for (const room of rooms) if (!session.goneWhileLoading.has(room.id)) ws.subscribe(watchTopic(room.id));
          session.goneWhileLoading = undefined;
          // From here on nothing is missed: the client reads GET /rooms/ now.
          ws.send(JSON.stringify(personFrames.ready()));
        } catch {
          ws.close(CLOSE.INTERNAL, "rooms unavailable");
        }
      },
      message(ws: PersonSocket) {
        ws.send(
          JSON.stringify(
            frames.error("UNKNOWN_TYPE", "This socket takes only auth frames; talk in a room's socket, /ws/{room_id}"),
          ),
        );
      },
      close(ws: PersonSocket) {
        const { session } = ws.data;
        session.closed = true;
        clearTimeout(session.expiryTimer);
        const set = people.get(session.user.id);
        if (set?.delete(ws) && set.size === 0) people.delete(session.user.id);
        if (people.size === 0 && sweeper) {
          clearInterval(sweeper);
          sweeper = undefined;
        }
      },
    },
  };
}
