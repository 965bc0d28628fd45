// The local half of live rooms: this instance's sockets, one pub/sub topic per room, and the RoomEvents that
// turn stored, edited and deleted messages into frames. Every frame is serialised once and published once.
import type { Server, ServerWebSocket } from "bun";
import type { Clock } from "../clock.ts";
import type { Author, RoomEvents } from "../messages/events.ts";
import { toMessageFrame } from "../messages/model.ts";
import type { MessageRecord, UserRecord } from "../store/store.ts";
import type { Presence } from "./presence.ts";
import { CLOSE, frames, roomTopic, WS_LIMITS } from "./protocol.ts";

export interface Session {
  user: UserRecord;
  roomId: number;
  /** Epoch ms when the token expires; the socket is closed with 1008 then. */
  expiresAt: number;
  joined: boolean;
  closed: boolean;
  rateTokens: number;
  rateRefilledAt: number;
  lastTypingAt: number;
  expiryTimer?: ReturnType<typeof setTimeout>;
}

export type LiveSocket = ServerWebSocket<{ session: Session }>;

/** Frames published to a room while a socket is loading its history; replayed to it before it subscribes. */
export interface Recorder {
  frames: { id: number | undefined; json: string }[];
  stop(): void;
}

export type Hub = ReturnType<typeof createHub>;

export function createHub(deps: { presence: Presence; clock: Clock }) {
  const { presence, clock } = deps;
  let server: Pick<Server<unknown>, "publish"> | undefined;
  const rooms = new Map<number, Set<LiveSocket>>();
  const users = new Map<number, Set<LiveSocket>>();
  const recorders = new Map<number, Set<Recorder>>();
  let sweeper: ReturnType<typeof setInterval> | undefined;
  const counters = { published: 0, slowConsumersClosed: 0 };

  function publish(roomId: number, frame: object, messageId?: number): void {
    const json = JSON.stringify(frame);
    counters.published++;
    server?.publish(roomTopic(roomId), json);
    const active = recorders.get(roomId);
    if (active) for (const recorder of active) recorder.frames.push({ id: messageId, json });
  }

  const add = <K>(map: Map<K, Set<LiveSocket>>, key: K, ws: LiveSocket) => {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(ws);
  };
  const remove = <K>(map: Map<K, Set<LiveSocket>>, key: K, ws: LiveSocket) => {
    const set = map.get(key);
    if (set?.delete(ws) && set.size === 0) map.delete(key);
  };

  // One timer for all sockets: Bun's publish never blocks, so a reader that stops reading grows its buffer.
  function sweep() {
    for (const sockets of rooms.values()) {
      for (const ws of sockets) {
        if (ws.getBufferedAmount() > WS_LIMITS.sendBufferBytes) {
          counters.slowConsumersClosed++;
          ws.close(CLOSE.TRY_AGAIN_LATER, "too slow to keep up; reconnect with since");
        }
      }
    }
  }

  const events: RoomEvents = {
    messagesStored(stored) {
      for (const { record, author } of stored) publish(record.roomId, toMessageFrame(record, author), record.id);
    },
    messageUpdated(record: MessageRecord, author: Author) {
      publish(record.roomId, { ...toMessageFrame(record, author), type: "message_updated" });
    },
    messageDeleted(record: MessageRecord) {
      publish(record.roomId, frames.deleted(record.id, record.roomId));
    },
    roomDeleted(roomId: number) {
      for (const ws of [...(rooms.get(roomId) ?? [])]) ws.close(CLOSE.ROOM_DELETED, "room deleted");
    },
  };

  return {
    events,
    counters,
    publish,
    attach(target: Pick<Server<unknown>, "publish">) {
      server = target;
    },

    /** Starts tracking a socket (before its history is loaded, so a room delete or revocation reaches it). */
    track(ws: LiveSocket) {
      const { session } = ws.data;
      add(rooms, session.roomId, ws);
      add(users, session.user.id, ws);
      sweeper ??= setInterval(sweep, WS_LIMITS.sweepMs);
      sweeper.unref?.();
    },

    /** Stops tracking; returns whether the user's presence changed (their last socket in the room left). */
    untrack(ws: LiveSocket) {
      const { session } = ws.data;
      remove(rooms, session.roomId, ws);
      remove(users, session.user.id, ws);
      if (rooms.size === 0 && sweeper) {
        clearInterval(sweeper);
        sweeper = undefined;
      }
      if (!session.joined) return;
      session.joined = false;
      if (presence.leave(session.roomId, session.user.id).last) {
        publish(session.roomId, frames.left(session.user.username, new Date(clock())));
        publish(session.roomId, frames.activeUsers(presence.list(session.roomId)));
      }
    },

    record(roomId: number): Recorder {
      const recorder: Recorder = {
        frames: [],
        stop() {
          const set = recorders.get(roomId);
          if (set?.delete(recorder) && set.size === 0) recorders.delete(roomId);
        },
      };
      let set = recorders.get(roomId);
      if (!set) recorders.set(roomId, (set = new Set()));
      set.add(recorder);
      return recorder;
    },

    /** Subscribes a socket whose history has been sent, and announces it as the seed does. */
    join(ws: LiveSocket) {
      const { session } = ws.data;
      ws.subscribe(roomTopic(session.roomId));
      session.joined = true;
      const { first } = presence.join(session.roomId, session.user.id, session.user.username);
      const active = frames.activeUsers(presence.list(session.roomId));
      if (first) {
        publish(session.roomId, active);
        publish(session.roomId, frames.joined(session.user.username, new Date(clock())));
      } else {
        // Another tab of someone already here: only the new socket needs the list.
        ws.send(JSON.stringify(active));
      }
    },

    closeUser(userId: number, code: number, reason: string) {
      for (const ws of [...(users.get(userId) ?? [])]) ws.close(code, reason);
    },

    closeAll(code: number, reason: string) {
      for (const sockets of [...rooms.values()]) for (const ws of [...sockets]) ws.close(code, reason);
    },

    get socketCount() {
      let n = 0;
      for (const sockets of rooms.values()) n += sockets.size;
      return n;
    },
    get roomCount() {
      return rooms.size;
    },
  };
}
