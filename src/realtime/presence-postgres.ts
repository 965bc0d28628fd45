// Presence across instances: each instance mirrors its socket counts into the `presence` table and heartbeats in
// `instances`; an instance silent for INSTANCE_TTL_MS is removed by the others, and its users leave their rooms.
// Whether a change is someone's first arrival or last departure anywhere is decided under a per-(room, user)
// advisory lock, and announced to the other instances by a NOTIFY in that same transaction: notifications arrive
// in commit order, so every instance hears exactly one join and one leave, in the order they happened.
import type postgres from "postgres";
import { connectPostgres } from "../store/postgres/connect.ts";
import { NOTIFY_CHANNEL } from "../store/postgres/store.ts";
import type { BusEvent } from "./bus.ts";
import { createSocketCounts, type Presence, type PresenceChange } from "./presence.ts";
import type { PresenceUser } from "./protocol.ts";

/** Default: a dead instance's users are gone from presence within this plus one heartbeat (a third of it). */
export const INSTANCE_TTL_MS = 15_000;

export interface PresenceHandlers {
  /** Users of instances that died without saying goodbye: gone everywhere (the other instances are told). */
  expired(gone: PresenceChange[]): void;
  /** This instance had been taken for dead (paused past the TTL) and registered its users again in these rooms. */
  restored(roomIds: number[]): void;
}

export interface ClusterPresence extends Presence {
  start(handlers: PresenceHandlers): Promise<void>;
  stop(): Promise<void>;
}

type Tx = postgres.TransactionSql<{}>;

export function createPostgresPresence(url: string, instanceId: string, ttlMs = INSTANCE_TTL_MS): ClusterPresence {
  const heartbeatMs = Math.max(1000, Math.floor(ttlMs / 3));
  const ttlSeconds = ttlMs / 1000;
  const sql = connectPostgres(url, { max: 2 });
  const counts = createSocketCounts();
  let timer: ReturnType<typeof setInterval> | undefined;
  let handlers: PresenceHandlers | undefined;
  /** This instance's row was made once; missing later, the others took it for dead and removed its presence. */
  let registered = false;
  let restoring: Promise<void> | undefined;

  /** One change at a time per (room, user) here, so the table follows the local counts in order. */
  const queues = new Map<string, Promise<unknown>>();
  function serially<T>(roomId: number, userId: number, task: () => Promise<T>): Promise<T> {
    const key = `${roomId}:${userId}`;
    const run = (queues.get(key) ?? Promise.resolve()).then(task, task);
    const tail = run.catch(() => {});
    queues.set(key, tail);
    void tail.then(() => queues.get(key) === tail && queues.delete(key));
    return run;
  }

  const lock = (tx: Tx, roomId: number, userId: number) => tx`SELECT pg_advisory_xact_lock(${roomId}, ${userId})`;
  /** Under the lock: whether another instance (or any, this one included) has this user in the room. */
  const othersHave = async (tx: Tx, roomId: number, userId: number, includingThis = false) =>
    (await tx`SELECT 1 FROM presence WHERE room_id = ${roomId} AND user_id = ${userId}
              AND (instance_id <> ${instanceId} OR ${includingThis}) LIMIT 1`).length > 0;
  const announce = (tx: Tx, change: PresenceChange & { change: "joined" | "left" }) => {
    const event: BusEvent = { kind: "presence", origin: instanceId, room: change.roomId, user: change.userId, username: change.username, change: change.change, at: change.at };
    return tx`SELECT pg_notify(${NOTIFY_CHANNEL}, ${JSON.stringify(event)})`;
  };

  /** Before any lock (a removal of this instance holds its row until it commits, and may wait for our locks). */
  async function register(tx: Tx | typeof sql) {
    const made = await tx`INSERT INTO instances (id, heartbeat_at) VALUES (${instanceId}, now()) ON CONFLICT (id) DO NOTHING RETURNING id`;
    if (made.length > 0 && registered) void restore();
    registered = true;
  }

  /** Puts this instance's users back after the others removed them, announcing those now absent everywhere. */
  function restore(): Promise<void> {
    restoring ??= (async () => {
      const rooms = new Set<number>();
      for (const { roomId, userId, username } of counts.entries()) {
        await serially(roomId, userId, () =>
          sql.begin(async (tx) => {
            const sockets = counts.count(roomId, userId);
            if (sockets === 0) return;
            await lock(tx, roomId, userId);
            const [row] = await tx<{ inserted: boolean }[]>`
              INSERT INTO presence (instance_id, room_id, user_id, username, sockets)
              VALUES (${instanceId}, ${roomId}, ${userId}, ${username}, ${sockets})
              ON CONFLICT (room_id, user_id, instance_id) DO UPDATE SET sockets = EXCLUDED.sockets
              RETURNING (xmax = 0) AS inserted`;
            if (row!.inserted && !(await othersHave(tx, roomId, userId))) {
              await announce(tx, { roomId, userId, username, change: "joined", at: Date.now() });
              rooms.add(roomId);
            }
          }),
        );
      }
      if (rooms.size > 0) handlers?.restored([...rooms]);
    })().finally(() => (restoring = undefined));
    return restoring;
  }

  async function beat() {
    const alive = await sql`UPDATE instances SET heartbeat_at = now() WHERE id = ${instanceId} RETURNING id`;
    if (alive.length === 0) await register(sql);
    if (restoring) await restoring;
    // One transaction: the dead instances' rows go, and each of their users is checked under its lock, so a join
    // elsewhere either comes before (and the user stays) or after (and is a new arrival). DELETE ... RETURNING
    // hands each dead instance to exactly one surviving one.
    const gone: PresenceChange[] = [];
    await sql.begin(async (tx) => {
      const rows = await tx<{ room_id: number; user_id: number; username: string }[]>`
        WITH dead AS (DELETE FROM instances WHERE heartbeat_at < now() - ${ttlSeconds} * interval '1 second' RETURNING id)
        SELECT DISTINCT p.room_id, p.user_id, p.username FROM presence p JOIN dead ON p.instance_id = dead.id
        ORDER BY p.room_id, p.user_id`;
      for (const row of rows) {
        await lock(tx, row.room_id, row.user_id);
        if (await othersHave(tx, row.room_id, row.user_id, true)) continue;
        const change = { roomId: row.room_id, userId: row.user_id, username: row.username, at: Date.now() };
        await announce(tx, { ...change, change: "left" });
        gone.push(change);
      }
    });
    if (gone.length > 0) handlers?.expired(gone);
  }

  return {
    async start(h) {
      handlers = h;
      await beat();
      timer = setInterval(() => beat().catch(() => {}), heartbeatMs);
      timer.unref?.();
    },
    async stop() {
      clearInterval(timer);
      await sql`DELETE FROM instances WHERE id = ${instanceId}`.catch(() => {});
      await sql.end({ timeout: 2 });
    },
    join(roomId, userId, username, at) {
      const { first } = counts.join(roomId, userId, username);
      return serially(roomId, userId, async () => {
        const sockets = counts.count(roomId, userId);
        if (!first) {
          await sql`UPDATE presence SET sockets = ${sockets} WHERE instance_id = ${instanceId} AND room_id = ${roomId} AND user_id = ${userId}`;
          return { first: false };
        }
        return sql.begin(async (tx) => {
          await register(tx);
          await lock(tx, roomId, userId);
          await tx`INSERT INTO presence (instance_id, room_id, user_id, username, sockets)
                   VALUES (${instanceId}, ${roomId}, ${userId}, ${username}, ${sockets})
                   ON CONFLICT (room_id, user_id, instance_id) DO UPDATE SET sockets = EXCLUDED.sockets`;
          if (await othersHave(tx, roomId, userId)) return { first: false };
          await announce(tx, { roomId, userId, username, change: "joined", at });
          return { first: true };
        });
      });
    },
    leave(roomId, userId, username, at) {
      const { last } = counts.leave(roomId, userId);
      return serially(roomId, userId, async () => {
        if (!last) {
          await sql`UPDATE presence SET sockets = ${counts.count(roomId, userId)}
                    WHERE instance_id = ${instanceId} AND room_id = ${roomId} AND user_id = ${userId}`;
          return { last: false };
        }
        return sql.begin(async (tx) => {
          await lock(tx, roomId, userId);
          const deleted = await tx`DELETE FROM presence WHERE instance_id = ${instanceId} AND room_id = ${roomId} AND user_id = ${userId} RETURNING 1`;
          if (await othersHave(tx, roomId, userId)) return { last: false };
          // Removed with this instance while it was taken for dead: the others were told then, this one was not.
          if (deleted.length === 0) return { last: true };
          await announce(tx, { roomId, userId, username, change: "left", at });
          return { last: true };
        });
      });
    },
    async list(roomId): Promise<PresenceUser[]> {
      const rows = await sql<{ user_id: number; username: string }[]>`
        SELECT user_id, min(username) AS username FROM presence WHERE room_id = ${roomId}
        GROUP BY user_id ORDER BY user_id`;
      return rows.map((r) => ({ user_id: r.user_id, username: r.username }));
    },
    async peers() {
      const rows = await sql<{ id: string }[]>`
        SELECT id FROM instances WHERE id <> ${instanceId} AND heartbeat_at >= now() - ${ttlSeconds} * interval '1 second'`;
      return rows.map((r) => r.id);
    },
  };
}
