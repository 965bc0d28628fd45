// Events into frames, both ways: the RoomEvents this instance's services call (published here, then sent on the
// bus), and the bus events of the other instances (published here).
import type { Author, RoomEvents } from "../messages/events.ts";
import type { MemberRecord, MessageRecord, Store } from "../store/store.ts";
import type { BusEvent, BusPerson, FanoutBus } from "./bus.ts";
import type { ClusterOrder } from "./cluster-order.ts";
import type { Invalidation } from "./hub.ts";
import { frames } from "./protocol.ts";
import type { Publisher } from "./publisher.ts";
import type { Roster } from "./roster.ts";
import type { SessionChecks } from "./sessions.ts";
import type { SocketRegistry } from "./sockets.ts";

export interface RoomEventDeps {
  bus: FanoutBus;
  store: Store;
  invalidate: Invalidation;
  sockets: SocketRegistry;
  publisher: Publisher;
  order: ClusterOrder;
  roster: Roster;
  sessions: SessionChecks;
}

/** Who may read the room is decided again; the room is told; a removed member's sockets there close. */
function membersChanged(deps: RoomEventDeps, roomId: number, change: { added?: BusPerson; removed?: BusPerson }) {
  deps.invalidate.members(roomId);
  if (change.added) deps.publisher.frame(roomId, frames.memberAdded(change.added.id, change.added.username));
  if (change.removed) {
    deps.publisher.frame(roomId, frames.memberRemoved(change.removed.id, change.removed.username));
    deps.sockets.closeMember(roomId, change.removed.id);
  }
}

export function createRoomEvents(deps: RoomEventDeps): RoomEvents {
  const { bus, invalidate, sockets, publisher, order } = deps;
  return {
    messagesStored(stored) {
      let room: number | undefined;
      for (const { record } of stored) if (record.roomId !== room) invalidate.room((room = record.roomId));
      order.stored(stored);
    },
    messageUpdated(record: MessageRecord, author: Author) {
      invalidate.room(record.roomId);
      publisher.updated(record, author);
      bus.send({ kind: "updated", room: record.roomId, id: record.id });
    },
    messageDeleted(record: MessageRecord) {
      invalidate.room(record.roomId);
      publisher.deleted(record.roomId, record.id);
      bus.send({ kind: "deleted", room: record.roomId, id: record.id });
    },
    roomDeleted(roomId: number) {
      invalidate.room(roomId);
      invalidate.members(roomId);
      sockets.closeRoom(roomId);
      bus.send({ kind: "room_deleted", room: roomId });
    },
    readMoved(userId, roomId, messageId, except) {
      sockets.sendToUser(userId, JSON.stringify(frames.read(roomId, messageId)), except);
      bus.send({ kind: "read", user: userId, room: roomId, message: messageId });
    },
    membersChanged(roomId, { added, removed }) {
      const person = (m: MemberRecord | undefined) => m && { id: m.userId, username: m.username };
      const change = { added: person(added), removed: person(removed) };
      membersChanged(deps, roomId, change);
      bus.send({ kind: "members", room: roomId, ...change });
    },
  };
}

/** Another instance's event (and this instance's own message notifications), told to the sockets here. */
export function createBusEventHandler(
  deps: RoomEventDeps,
  forward?: (event: BusEvent) => void,
): (event: BusEvent) => void {
  const { bus, store, invalidate, sockets, publisher, order, roster, sessions } = deps;
  return (event) => {
    // Our own message notifications come back to us (they set the order); anything else of ours does not.
    if (event.origin === bus.instanceId && event.kind !== "messages") return;
    forward?.(event);
    switch (event.kind) {
      case "messages":
        for (const [room] of event.items) invalidate.room(room);
        order.notified(event.items, event.origin === bus.instanceId);
        return;
      // Edits and deletes wait their turn behind the messages they change (and a failed read is tried again).
      case "updated":
        invalidate.room(event.room);
        order.sequence(async () => {
          if (!sockets.has(event.room)) return;
          const [m] = await store.findMessagesByIds([event.id]);
          if (m) publisher.updated(m, m.author);
        });
        return;
      case "frame":
        publisher.frame(event.room, event.frame);
        return;
      case "deleted":
        invalidate.room(event.room);
        order.sequence(() => publisher.deleted(event.room, event.id));
        return;
      case "presence":
        // A departure of someone still here is stale: this instance was taken for dead (paused past the TTL) and
        // puts its users back (see presence-postgres.ts); its own sockets never saw them leave.
        if (event.change === "left" && sockets.joinedHere(event.room, event.user)) return;
        if (sockets.has(event.room)) {
          void roster
            .announce(event.room, event.change, { id: event.user, username: event.username }, event.at)
            .catch(() => {});
        }
        return;
      case "room_deleted":
        invalidate.room(event.room);
        invalidate.members(event.room);
        sockets.closeRoom(event.room);
        return;
      case "members":
        membersChanged(deps, event.room, event);
        return;
      case "read":
        sockets.sendToUser(event.user, JSON.stringify(frames.read(event.room, event.message)));
        return;
      case "revoke":
        invalidate.everything();
        sessions.revokedElsewhere(event.user, event.ref);
        return;
      case "revoked":
        sessions.acknowledged(event.ref, event.origin);
        return;
    }
  };
}
