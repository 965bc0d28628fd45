// The fanout bus: how instances sharing one database tell each other what their local sockets must see.
// One instance (SQLite, or a single server) needs none of it: the in-process bus sends nothing.
import type postgres from "postgres";
import type { Author } from "../messages/events.ts";
import type { MessageRecord, MessageWithAuthor } from "../store/store.ts";

/**
 * A stored message as it crosses instances: whole when its JSON fits in WHOLE_ITEM_MAX_BYTES (most do), so the
 * receivers publish it without reading it back; otherwise its room and id, and receivers read it.
 */
export type BusMessage =
  | [roomId: number, id: number]
  | [
      roomId: number,
      id: number,
      userId: number,
      username: string,
      content: string,
      clientId: string | null,
      createdMs: number,
    ];

/** What crosses instances. */
export type BusEvent =
  | { kind: "messages"; origin: string; items: BusMessage[] }
  | { kind: "updated"; origin: string; room: number; id: number }
  | { kind: "frame"; origin: string; room: number; frame: string }
  | { kind: "deleted"; origin: string; room: number; id: number }
  /** Sent by the PostgreSQL presence from inside the transaction that decided it (see presence-postgres.ts). */
  | {
      kind: "presence";
      origin: string;
      room: number;
      user: number;
      change: "joined" | "left";
      username: string;
      at: number;
    }
  | { kind: "room_deleted"; origin: string; room: number }
  | { kind: "members"; origin: string; room: number; added?: BusPerson; removed?: BusPerson }
  /** `ref`: the revoking instance waits for a `revoked` with it from every other instance (Hub.revoke). */
  | { kind: "revoke"; origin: string; user: number; ref: string }
  | { kind: "revoked"; origin: string; ref: string }
  | { kind: "read"; origin: string; user: number; room: number; message: number }
  /** A room was made; `users`: who can read it (null: everyone, a public room). For person sockets. */
  | { kind: "room_opened"; origin: string; room: number; users: readonly number[] | null };

/** The PostgreSQL NOTIFY channel every BusEvent travels on between instances (bus-postgres.ts listens on it). */
export const NOTIFY_CHANNEL = "chat_events";

/** A message whose item is longer than this travels as [room, id]. */
const WHOLE_ITEM_MAX_BYTES = 1500;
/**
 * Items are cut into notifications of about this many bytes: with the longest whole item and the envelope, each
 * stays under PostgreSQL's 8,000-byte payload limit.
 */
const CHUNK_BYTES = 6000;

/**
 * The NOTIFYs a message batch sends from inside its INSERT (src/store/postgres/message-batch.ts), as a query over
 * the rows of its CTE `ins` (id, room_id, user_id, content, client_id, created_at): `messages` events in id order,
 * each under the payload limit, none when nothing was inserted. They must keep BusEvent's shape;
 * test/bus-payload.test.ts parses real ones.
 */
export const messagesNotifySql = (sql: postgres.Sql, origin: string) => sql`
  SELECT pg_notify(${NOTIFY_CHANNEL}, payload) FROM (
    SELECT chunk, '{"kind":"messages","origin":' || to_json(${origin}::text)::text || ',"items":['
                  || string_agg(item, ',' ORDER BY id) || ']}' AS payload
    FROM (
      SELECT id, item, sum(octet_length(item) + 1) OVER (ORDER BY id) / ${CHUNK_BYTES}::int AS chunk
      FROM (
        SELECT id, CASE WHEN octet_length(whole) <= ${WHOLE_ITEM_MAX_BYTES}::int THEN whole
                        ELSE json_build_array(room_id, id)::text END AS item
        FROM (
          SELECT ins.id, ins.room_id,
                 json_build_array(ins.room_id, ins.id, ins.user_id, u.username, ins.content, ins.client_id,
                                  round(extract(epoch FROM ins.created_at) * 1000))::text AS whole
          FROM ins JOIN users u ON u.id = ins.user_id
          OFFSET 0
        ) wholes
      ) items
    ) chunks
    GROUP BY chunk ORDER BY chunk
  ) notices`;

/**
 * The messages bus items name, in id order: as carried whole, and the others (long ones) read back with `read`
 * (the store's findMessagesByIds; a message deleted meanwhile is left out).
 */
export async function busMessages(
  items: readonly BusMessage[],
  read: (ids: number[]) => Promise<MessageWithAuthor[]>,
): Promise<{ record: MessageRecord; author: Author }[]> {
  const messages: { record: MessageRecord; author: Author }[] = [];
  const ids: number[] = [];
  for (const item of items) {
    if (item.length === 2) {
      ids.push(item[1]);
      continue;
    }
    const [roomId, id, userId, username, content, clientId, createdMs] = item;
    messages.push({
      record: { id, roomId, userId, content, clientId, createdAt: new Date(createdMs), editedAt: null },
      author: { id: userId, username },
    });
  }
  if (ids.length === 0) return messages;
  for (const m of await read(ids)) messages.push({ record: m, author: m.author });
  return messages.sort((a, b) => a.record.id - b.record.id);
}

/** Someone a membership change names. */
export interface BusPerson {
  id: number;
  username: string;
}

export type BusEventBody = BusEvent extends infer E ? (E extends BusEvent ? Omit<E, "origin"> : never) : never;

export interface BusHandlers {
  /** An event: every instance's message notifications (this one's included), and other instances' rest. */
  event(event: BusEvent): void;
  /**
   * The listener (re)connected: anything sent while it was away must be read from the database. `heardAt`: epoch
   * ms when it last heard anything (a notification, or its LISTEN confirmed); what it missed came after that.
   */
  reconnected(heardAt: number): void;
}

export interface FanoutBus {
  readonly instanceId: string;
  start(handlers: BusHandlers): Promise<void>;
  /** Tells the other instances (never this one). */
  send(event: BusEventBody): void;
  status(): { kind: "local" | "postgres"; connected: boolean };
  stop(): Promise<void>;
}

export function createLocalBus(): FanoutBus {
  return {
    instanceId: "local",
    async start() {},
    send() {},
    status: () => ({ kind: "local", connected: true }),
    async stop() {},
  };
}
