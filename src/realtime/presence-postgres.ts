// Presence across instances: each instance mirrors its socket counts into the `presence` table and heartbeats in
// `instances`; an instance silent for the TTL (INSTANCE_TTL_SECONDS) is removed by the others, and its users leave
// their rooms.
// Whether a change is someone's first arrival or last departure anywhere is decided under a per-(room, user)
// advisory lock, and announced to the other instances by a NOTIFY in that same transaction: notifications arrive
// in commit order, so every instance hears exactly one join and one leave, in the order they happened.
import type postgres from "postgres";
import { connectPostgres } from "../store/postgres/connect.ts";
import { NOTIFY_CHANNEL, type BusEvent } from "./bus.ts";
import { createSocketCounts, type Presence, type PresenceChange } from "./presence.ts";
import type { PresenceUser } from "./protocol.ts";

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

interface Change {
  roomId: number;
  userId: number;
  username: string;
  sockets: number;
  /** The notification to send if nobody else has the user in the room. */
  payload: string;
}

/** The most changes one presence transaction carries. */
const MAX_BATCH = 500;

/**
 * Changes queued while a transaction runs go together in the next one (as the message writer's group commit).
 * `run` gets the batch as JSON and answers, per (room, user), whether another instance has the user there.
 */
function createBatches(run: (input: string) => Promise<readonly { room_id: number; user_id: number; present: boolean }[]>) {
  let queue: { change: Change; settle(present: boolean | Error): void }[] = [];
  let running = false;
  async function drain() {
    while (queue.length > 0) {
      const batch = queue.slice(0, MAX_BATCH);
      queue = queue.slice(MAX_BATCH);
      const input = JSON.stringify(
        batch.map(({ change: c }) => ({ room_id: c.roomId, user_id: c.userId, username: c.username, sockets: c.sockets, payload: c.payload })),
      );
      try {
        const present = new Map((await run(input)).map((r) => [`${r.room_id}:${r.user_id}`, r.present]));
        for (const { change, settle } of batch) settle(present.get(`${change.roomId}:${change.userId}`) ?? false);
      } catch (error) {
        for (const { settle } of batch) settle(error as Error);
      }
    }
    running = false;
  }
  return {
    /** Resolves with whether another instance has the user in the room, once the change is committed. */
    add(change: Change): Promise<boolean> {
      return new Promise((resolve, reject) => {
        queue.push({ change, settle: (present) => (present instanceof Error ? reject(present) : resolve(present)) });
        if (running) return;
        running = true;
        queueMicrotask(() => void drain());
      });
    },
  };
}

/** How long a leave whose write failed waits before it is tried again. */
const LEAVE_RETRY_MS = 500;

/**
 * `ttlMs`: a dead instance's users are gone from presence within this plus one heartbeat (a third of it). `log`
 * gets failed heartbeats and leaves (one JSON line each; standard error by default).
 */
export function createPostgresPresence(
  url: string,
  instanceId: string,
  ttlMs: number,
  log: (line: Record<string, unknown>) => void = (line) => console.error(JSON.stringify(line)),
): ClusterPresence {
  const heartbeatMs = Math.max(1000, Math.floor(ttlMs / 3));
  const ttlSeconds = ttlMs / 1000;
  const sql = connectPostgres(url, { max: 2 });
  const counts = createSocketCounts();
  let timer: ReturnType<typeof setInterval> | undefined;
  let handlers: PresenceHandlers | undefined;
  /** This instance's row was made once; missing later, the others took it for dead and removed its presence. */
  let registered = false;
  /** The restores asked for, one after another. */
  let restoring: Promise<void> = Promise.resolve();
  let stopped = false;

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

  /**
   * A leave is tried until it is stored (or presence stops): the local count has dropped already, so nothing
   * else would take the user out of the room's list, here or on the other instances, before this one stops.
   * Logged once per leave, not per try.
   */
  async function untilStored<T>(roomId: number, userId: number, task: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await task();
      } catch (error) {
        if (stopped) throw error;
        if (tries === 1) {
          log({ level: "warn", msg: `presence leave not stored; trying again every ${LEAVE_RETRY_MS} ms`, room_id: roomId, user_id: userId, error: String(error) });
        }
        await Bun.sleep(LEAVE_RETRY_MS);
      }
    }
  }

  /**
   * The socket count last written per (room, user). Another tab changes only the count; when a storm queues many
   * such changes for one user (everyone's tabs reconnecting), the first to run writes the latest count and the
   * rest have nothing to write, instead of one round trip each, one after another.
   */
  const written = new Map<string, number>();
  async function writeCount(roomId: number, userId: number) {
    const key = `${roomId}:${userId}`;
    const sockets = counts.count(roomId, userId);
    if (sockets === 0 || written.get(key) === sockets) return;
    await sql`UPDATE presence SET sockets = ${sockets} WHERE instance_id = ${instanceId} AND room_id = ${roomId} AND user_id = ${userId}`;
    written.set(key, sockets);
  }

  const lock = (tx: Tx, roomId: number, userId: number) => tx`SELECT pg_advisory_xact_lock(${roomId}, ${userId})`;
  /**
   * A transaction that notifies holds PostgreSQL's notification lock through its commit, WAL flush included, so
   * waiting for the flush would serialise every join and leave (and every message batch) behind the disk: a
   * reconnect storm of 10,000 sockets took 5 times as long to settle. Each heartbeat puts back rows a database
   * crash lost (see beat), so these commits need not wait for the flush.
   */
  const noFlushWait = (tx: Tx) => tx`SET LOCAL synchronous_commit = off`;
  /** Under the lock: whether another instance (or any, this one included) has this user in the room. */
  const othersHave = async (tx: Tx, roomId: number, userId: number, includingThis = false) =>
    (await tx`SELECT 1 FROM presence WHERE room_id = ${roomId} AND user_id = ${userId}
              AND (instance_id <> ${instanceId} OR ${includingThis}) LIMIT 1`).length > 0;
  const payload = (change: PresenceChange & { change: "joined" | "left" }) => {
    const event: BusEvent = { kind: "presence", origin: instanceId, room: change.roomId, user: change.userId, username: change.username, change: change.change, at: change.at };
    return JSON.stringify(event);
  };
  const announce = (tx: Tx, change: PresenceChange & { change: "joined" | "left" }) =>
    tx`SELECT pg_notify(${NOTIFY_CHANNEL}, ${payload(change)})`;

  /**
   * First joins and last leaves, many at a time: a reconnect storm of 10,000 sockets is a few dozen transactions,
   * not 10,000 (one transaction per change took 20 s to settle such a storm). Each batch sends its statements
   * together and PostgreSQL runs them in order: the (room, user) locks, taken in key order so two batches cannot
   * deadlock, then one statement that starts (and reads the table) once they are held, writes this instance's
   * rows, and notifies the changes nobody else's rows cover. Input travels as one JSON parameter.
   */
  const joins = createBatches(async (input) => {
    const [, made, , decided] = await sql.begin((tx) => [
      noFlushWait(tx),
      registerQuery(tx),
      lockAll(tx, input),
      tx<{ room_id: number; user_id: number; present: boolean }[]>`
        WITH input AS (SELECT * FROM json_to_recordset(${input}::text::json)
                       AS x(room_id int, user_id int, username text, sockets int, payload text)),
        mine AS (
          INSERT INTO presence (instance_id, room_id, user_id, username, sockets)
          SELECT ${instanceId}, room_id, user_id, username, sockets FROM input
          ON CONFLICT (room_id, user_id, instance_id) DO UPDATE SET sockets = EXCLUDED.sockets),
        decided AS (
          SELECT i.room_id, i.user_id, i.payload, EXISTS (SELECT 1 FROM presence p WHERE p.room_id = i.room_id
                 AND p.user_id = i.user_id AND p.instance_id <> ${instanceId}) AS present FROM input i)
        SELECT room_id, user_id, present, CASE WHEN present THEN NULL ELSE pg_notify(${NOTIFY_CHANNEL}, payload) END
        FROM decided`,
    ]);
    noteRegistration(made);
    return decided;
  });
  // A row already gone was removed with this instance while it was taken for dead: the others were told then (not
  // again now), this instance's sockets were not (the hub tells them when `last`).
  const leaves = createBatches(async (input) => {
    const [, , decided] = await sql.begin((tx) => [
      noFlushWait(tx),
      lockAll(tx, input),
      tx<{ room_id: number; user_id: number; present: boolean }[]>`
        WITH input AS (SELECT * FROM json_to_recordset(${input}::text::json) AS x(room_id int, user_id int, payload text)),
        mine AS (
          DELETE FROM presence p USING input i
          WHERE p.instance_id = ${instanceId} AND p.room_id = i.room_id AND p.user_id = i.user_id
          RETURNING p.room_id, p.user_id),
        decided AS (
          SELECT i.room_id, i.user_id, i.payload,
                 EXISTS (SELECT 1 FROM presence p WHERE p.room_id = i.room_id AND p.user_id = i.user_id
                         AND p.instance_id <> ${instanceId}) AS present,
                 EXISTS (SELECT 1 FROM mine m WHERE m.room_id = i.room_id AND m.user_id = i.user_id) AS had
          FROM input i)
        SELECT room_id, user_id, present,
               CASE WHEN present OR NOT had THEN NULL ELSE pg_notify(${NOTIFY_CHANNEL}, payload) END
        FROM decided`,
    ]);
    return decided;
  });
  const lockAll = (tx: Tx, input: string) =>
    tx`SELECT pg_advisory_xact_lock(room_id, user_id) FROM (
         SELECT room_id, user_id FROM json_to_recordset(${input}::text::json) AS x(room_id int, user_id int) ORDER BY 1, 2) k`;

  /** Before any lock (a removal of this instance holds its row until it commits, and may wait for our locks). */
  const registerQuery = (tx: Tx | typeof sql) =>
    tx`INSERT INTO instances (id, heartbeat_at) VALUES (${instanceId}, now()) ON CONFLICT (id) DO NOTHING RETURNING id`;
  function noteRegistration(made: readonly unknown[]) {
    if (made.length > 0 && registered) void restore(true);
    registered = true;
  }
  async function register(tx: Tx | typeof sql) {
    noteRegistration(await registerQuery(tx));
  }

  /**
   * Puts this instance's missing rows back. After the others removed this instance (`afterRemoval`), the users now
   * absent everywhere were announced as gone, so they are announced as back; rows lost otherwise (a database
   * crash) were never announced as gone, so they are put back quietly.
   */
  function restore(afterRemoval: boolean): Promise<void> {
    restoring = restoring.then(async () => {
      const rooms = new Set<number>();
      const kept = new Set(
        (await sql<{ key: string }[]>`SELECT room_id || ':' || user_id AS key FROM presence WHERE instance_id = ${instanceId}`).map((r) => r.key),
      );
      for (const { roomId, userId, username } of counts.entries()) {
        if (kept.has(`${roomId}:${userId}`)) continue;
        await serially(roomId, userId, () =>
          sql.begin(async (tx) => {
            const sockets = counts.count(roomId, userId);
            if (sockets === 0) return;
            await noFlushWait(tx);
            await lock(tx, roomId, userId);
            const [row] = await tx<{ inserted: boolean }[]>`
              INSERT INTO presence (instance_id, room_id, user_id, username, sockets)
              VALUES (${instanceId}, ${roomId}, ${userId}, ${username}, ${sockets})
              ON CONFLICT (room_id, user_id, instance_id) DO UPDATE SET sockets = EXCLUDED.sockets
              RETURNING (xmax = 0) AS inserted`;
            written.set(`${roomId}:${userId}`, sockets);
            if (afterRemoval && row!.inserted && !(await othersHave(tx, roomId, userId))) {
              await announce(tx, { roomId, userId, username, change: "joined", at: Date.now() });
              rooms.add(roomId);
            }
          }),
        );
      }
      if (rooms.size > 0) handlers?.restored([...rooms]);
    }).catch(() => {});
    return restoring;
  }

  async function beat() {
    const alive = await sql`UPDATE instances SET heartbeat_at = now() WHERE id = ${instanceId} RETURNING id`;
    if (alive.length === 0) await register(sql);
    await restoring;
    // Rows lost in a database crash are put back (checked while no change is on its way, so the counts agree).
    if (queues.size === 0) {
      const [{ rows }] = await sql<[{ rows: number }]>`SELECT count(*)::int AS rows FROM presence WHERE instance_id = ${instanceId}`;
      if (queues.size === 0 && rows !== [...counts.entries()].length) await restore(false);
    }
    // One transaction: the dead instances' rows go, and each of their users is checked under its lock, so a join
    // elsewhere either comes before (and the user stays) or after (and is a new arrival). DELETE ... RETURNING
    // hands each dead instance to exactly one surviving one.
    const gone: PresenceChange[] = [];
    await sql.begin(async (tx) => {
      await noFlushWait(tx);
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
      // A missed heartbeat is tried at the next; past the TTL the others take this instance for dead.
      timer = setInterval(() => beat().catch((error) => log({ level: "error", msg: "presence heartbeat failed", error: String(error) })), heartbeatMs);
      timer.unref?.();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await sql`DELETE FROM instances WHERE id = ${instanceId}`.catch(() => {});
      await sql.end({ timeout: 2 });
    },
    join(roomId, userId, username, at) {
      const { first } = counts.join(roomId, userId, username);
      return serially(roomId, userId, async () => {
        const sockets = counts.count(roomId, userId);
        if (!first) {
          await writeCount(roomId, userId);
          return { first: false };
        }
        const present = await joins.add({ roomId, userId, username, sockets, payload: payload({ roomId, userId, username, change: "joined", at }) });
        written.set(`${roomId}:${userId}`, sockets);
        return { first: !present };
      });
    },
    leave(roomId, userId, username, at) {
      const { last } = counts.leave(roomId, userId);
      return serially(roomId, userId, () => untilStored(roomId, userId, async () => {
        if (!last) {
          await writeCount(roomId, userId);
          return { last: false };
        }
        written.delete(`${roomId}:${userId}`);
        const present = await leaves.add({ roomId, userId, username, sockets: 0, payload: payload({ roomId, userId, username, change: "left", at }) });
        return { last: !present };
      }));
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
