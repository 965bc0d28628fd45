// The fanout bus: how instances sharing one database tell each other what their local sockets must see.
// One instance (SQLite, or a single server) needs none of it: the in-process bus sends nothing.
import type postgres from "postgres";

/** What crosses instances. Message rows never travel: `messages` names ids, and receivers read them. */
export type BusEvent =
  | { kind: "messages"; origin: string; items: [roomId: number, id: number][] }
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

/**
 * The `messages` event as PostgreSQL builds it, for the NOTIFY a message batch sends from inside its INSERT
 * (src/store/postgres/message-batch.ts): a text expression over the rows in scope, aggregating their `room_id`
 * and `id` columns in id order. It must keep BusEvent's shape; test/bus-payload.test.ts parses a real one.
 */
export const messagesEventSql = (sql: postgres.Sql, origin: string) =>
  sql`json_build_object('kind', 'messages', 'origin', ${origin}::text, 'items', json_agg(json_build_array(room_id, id) ORDER BY id))::text`;

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
