// The fanout bus on PostgreSQL LISTEN/NOTIFY, through the postgres driver already in use: no other service.
// Message batches notify from inside their INSERT (src/store/postgres/message-batch.ts), so notifications arrive in commit
// order; this module carries everything else and re-reads the database whenever the listener reconnects.
import type postgres from "postgres";
import { connectPostgres } from "../store/postgres/connect.ts";
import { NOTIFY_CHANNEL, type BusEvent, type BusHandlers, type FanoutBus } from "./bus.ts";

/** PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7900;
/** The longest wait between attempts to LISTEN again while the database is away (postgres-js's grows to 20 s). */
const RELISTEN_MS = 250;

export function createPostgresBus(url: string, instanceId: string): FanoutBus {
  // Named so that operators (and the fault tests) can find the bus's connections in pg_stat_activity.
  const options = { max: 1, connection: { application_name: "chat-bus" } };
  const sender = connectPostgres(url, options);
  let handlers: BusHandlers | undefined;
  let connected = false;
  let started = false;
  let stopped = false;
  /** The listening connection closed since the last LISTEN was sent on it. */
  let lost = false;
  let relistening = false;
  /**
   * Notifications that came before the LISTEN's reply was handled. PostgreSQL can send a new connection's first
   * ones ahead of that reply, in another read; they must wait for the catch-up to be scheduled, and go after it.
   */
  let early: BusEvent[] | undefined = [];
  /** When the listener last heard anything: what a reconnect may have missed came after this. */
  let heardAt = Date.now();

  // Not postgres-js's listen(): it re-listens by itself, but says neither when the connection is gone (the read
  // caches must stop trusting the bus) nor which notifications came before its callback. `onnotify` is the
  // driver's option behind listen(), missing from its types.
  const listener = connectPostgres(url, {
    ...options,
    // One connection for good: recycling it would be a reconnect, and a catch-up, every half hour.
    idle_timeout: 0,
    max_lifetime: null,
    backoff: (retries: number) => Math.min(0.01 * 2 ** retries, RELISTEN_MS / 1000),
    onnotify(_channel: string, payload: string) {
      let event: BusEvent;
      try {
        event = JSON.parse(payload);
      } catch {
        return;
      }
      heardAt = Date.now();
      if (early) early.push(event);
      else handlers!.event(event);
    },
    onclose() {
      connected = false;
      early ??= [];
      lost = true;
      if (started && !stopped && !relistening) void relisten();
    },
  } as postgres.Options<{}>);
  const listen = () => listener.unsafe(`LISTEN ${NOTIFY_CHANNEL}`);

  /** Hands over to the hub: the catch-up of a reconnect first, then what arrived meanwhile, in order. */
  function listening(reconnected: boolean) {
    connected = true;
    const held = early ?? [];
    early = undefined;
    if (reconnected) handlers!.reconnected(heardAt);
    heardAt = Date.now();
    for (const event of held) handlers!.event(event);
  }

  async function relisten() {
    relistening = true;
    // Until a LISTEN holds: the connection may close again while one is on its way.
    while (lost && !stopped) {
      lost = false;
      await listen().catch(async () => {
        lost = true;
        await Bun.sleep(RELISTEN_MS);
      });
    }
    relistening = false;
    if (!stopped) listening(true);
  }

  return {
    instanceId,
    async start(h: BusHandlers) {
      handlers = h;
      await listen();
      started = true;
      // The connection closed while this LISTEN was on its way: listen again, as after any reconnect.
      if (lost) void relisten();
      else listening(false);
    },
    send(body) {
      const payload = JSON.stringify({ ...body, origin: instanceId });
      if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) throw new Error(`bus event too large (${body.kind})`);
      sender.notify(NOTIFY_CHANNEL, payload).catch(() => {
        // Lost with its connection; it carries no message, and messages are what receivers catch up on.
      });
    },
    status: () => ({ kind: "postgres", connected }),
    async stop() {
      stopped = true;
      await Promise.all([listener.end({ timeout: 2 }), sender.end({ timeout: 2 })]);
    },
  };
}
