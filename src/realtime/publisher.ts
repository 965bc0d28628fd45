// Publishing to a room's topic on this instance: every frame serialised once and published once, counted, shown
// to the sockets still loading their history (join-replay.ts), and each message at most once (its watermark).
import type { Server } from "bun";
import type { Clock } from "../clock.ts";
import type { Author } from "../messages/events.ts";
import { toMessageFrame } from "../messages/model.ts";
import type { MessageRecord } from "../store/store.ts";
import type { Watermarks } from "./join-replay.ts";
import { frames, roomTopic } from "./protocol.ts";
import type { SocketRegistry } from "./sockets.ts";
import type { MessageUpdatedFrame } from "./wire.ts";

/** For /metrics; `delivered` is message frames published times the room's sockets here at that moment. */
export interface HubCounters {
  published: number;
  delivered: number;
  slowConsumersClosed: number;
}

export interface Publisher {
  attach(server: Pick<Server<unknown>, "publish">): void;
  /** Any frame; `messageId` when it is a stored message's (what the watermarks and recorders go by). */
  frame(roomId: number, frame: object | string, messageId?: number): void;
  /** A stored message, unless one at or above its id has gone out here already. */
  message(record: MessageRecord, author: Author): void;
  /** An edit goes out unless its message was deleted meanwhile (the edit and the delete made on two instances). */
  updated(record: MessageRecord, author: Author): void;
  deleted(roomId: number, id: number): void;
}

/**
 * How long a deleted message's id is remembered, so that an edit of it read or made just before the delete is
 * not published after it (which would bring the message back in clients). Far longer than any such read takes.
 */
const DELETED_MEMORY_MS = 60_000;

// Typed by the wire's MessageUpdatedFrame, so the client's idea of it cannot drift.
const updatedFrame = (record: MessageRecord, author: Author): MessageUpdatedFrame => ({
  ...toMessageFrame(record, author),
  type: "message_updated" as const,
});

export function createPublisher(deps: {
  sockets: SocketRegistry;
  watermarks: Watermarks;
  clock: Clock;
  counters: HubCounters;
}): Publisher {
  const { sockets, watermarks, clock, counters } = deps;
  let server: Pick<Server<unknown>, "publish"> | undefined;

  function frame(roomId: number, frame: object | string, messageId?: number): void {
    const json = typeof frame === "string" ? frame : JSON.stringify(frame);
    counters.published++;
    if (messageId !== undefined) counters.delivered += sockets.rooms.get(roomId)?.size ?? 0;
    server?.publish(roomTopic(roomId), json);
    watermarks.recorded(roomId, messageId, json);
  }

  /** Ids deleted lately, in two generations swapped every DELETED_MEMORY_MS / 2: each is kept 30 to 60 s. */
  let deletedNow = new Set<number>();
  let deletedBefore = new Set<number>();
  let deletedSince = clock();

  return {
    attach(target) {
      server = target;
    },
    frame,
    message(record, author) {
      if (!watermarks.advance(record.roomId, record.id, sockets.has(record.roomId))) return;
      frame(record.roomId, toMessageFrame(record, author), record.id);
    },
    updated(record, author) {
      if (deletedNow.has(record.id) || deletedBefore.has(record.id)) return;
      frame(record.roomId, updatedFrame(record, author));
    },
    deleted(roomId, id) {
      if (clock() - deletedSince > DELETED_MEMORY_MS / 2) {
        deletedBefore = deletedNow;
        deletedNow = new Set();
        deletedSince = clock();
      }
      deletedNow.add(id);
      frame(roomId, frames.deleted(id, roomId));
    },
  };
}
