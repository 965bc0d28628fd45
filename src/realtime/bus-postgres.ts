// The fanout bus on PostgreSQL LISTEN/NOTIFY, through the postgres driver already in use: no other service.
// Message batches notify from inside their INSERT (see the PostgreSQL store), so notifications arrive in commit
// order; this module carries everything else and re-reads the database whenever the listener reconnects.
import postgres from "postgres";
import { NOTIFY_CHANNEL } from "../store/postgres/store.ts";
import type { BusEvent, BusHandlers, FanoutBus } from "./bus.ts";

/** PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7900;

export function createPostgresBus(url: string, instanceId: string): FanoutBus {
  // Named so that operators (and the fault tests) can find the listening connections in pg_stat_activity.
  const listener = postgres(url, { max: 1, onnotice: () => {}, connection: { application_name: "chat-bus" } });
  let connected = false;
  let started = false;

  return {
    instanceId,
    async start(handlers: BusHandlers) {
      await listener.listen(
        NOTIFY_CHANNEL,
        (payload) => {
          let event: BusEvent;
          try {
            event = JSON.parse(payload);
          } catch {
            return;
          }
          // A notification can arrive in the same read as a reconnected LISTEN's reply, before the reconnect
          // callback runs; deferring every notification by one turn (order kept) lets the catch-up go first.
          setImmediate(() => handlers.event(event));
        },
        // Called on the first LISTEN and again after every reconnect of the listening connection.
        () => {
          connected = true;
          if (started) handlers.reconnected();
          started = true;
        },
      );
    },
    send(body) {
      const payload = JSON.stringify({ ...body, origin: instanceId });
      if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) throw new Error(`bus event too large (${body.kind})`);
      listener.notify(NOTIFY_CHANNEL, payload).catch(() => {
        // The listener is reconnecting; receivers catch up from the database when it is back.
        connected = false;
      });
    },
    status: () => ({ kind: "postgres", connected }),
    async stop() {
      await listener.end({ timeout: 2 });
    },
  };
}
