// Presence across instances: each instance mirrors its socket counts into the `presence` table and heartbeats in
// `instances`; an instance silent for the TTL (INSTANCE_TTL_SECONDS) is removed by the others, and its users leave
// their rooms.
// Whether a change is someone's first arrival or last departure anywhere is decided under a per-(room, user)
// advisory lock, and announced to the other instances by a NOTIFY in that same transaction: notifications arrive
// in commit order, so every instance hears exactly one join and one leave, in the order they happened.
// The SQL is in src/store/postgres/presence.ts; this file decides what to write, when, and what it means.
import { openPresenceStore, type PresenceDecision, type PresenceWrite } from "../store/postgres/presence.ts";
import type { BusEvent } from "./bus.ts";
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

/** The most changes one presence transaction carries. */
const MAX_BATCH = 500;

/**
 * Changes queued while a transaction runs go together in the next one (as the message writer's group commit).
 * `run` gets the batch and answers, per (room, user), whether another instance has the user there.
 */
function createBatches(run: (changes: readonly PresenceWrite[]) => Promise<readonly PresenceDecision[]>) {
  let queue: { change: PresenceWrite; settle(present: boolean | Error): void }[] = [];
  let running = false;
  async function drain() {
    while (queue.length > 0) {
      const batch = queue.slice(0, MAX_BATCH);
      queue = queue.slice(MAX_BATCH);
      try {
        const present = new Map(
          (await run(batch.map(({ change }) => change))).map((r) => [`${r.room_id}:${r.user_id}`, r.present]),
        );
        for (const { change, settle } of batch) settle(present.get(`${change.roomId}:${change.userId}`) ?? false);
      } catch (error) {
        for (const { settle } of batch) settle(error as Error);
      }
    }
    running = false;
  }
  return {
    /** Resolves with whether another instance has the user in the room, once the change is committed. */
    add(change: PresenceWrite): Promise<boolean> {
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
  const tables = openPresenceStore(url, instanceId, ttlSeconds);
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
          log({
            level: "warn",
            msg: `presence leave not stored; trying again every ${LEAVE_RETRY_MS} ms`,
            room_id: roomId,
            user_id: userId,
            error: String(error),
          });
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
    await tables.setSockets(roomId, userId, sockets);
    written.set(key, sockets);
  }

  const payload = (change: PresenceChange & { change: "joined" | "left" }) => {
    const event: BusEvent = {
      kind: "presence",
      origin: instanceId,
      room: change.roomId,
      user: change.userId,
      username: change.username,
      change: change.change,
      at: change.at,
    };
    return JSON.stringify(event);
  };

  /**
   * First joins and last leaves, many at a time: a reconnect storm of 10,000 sockets is a few dozen transactions,
   * not 10,000 (one transaction per change took 20 s to settle such a storm). Each batch takes its (room, user)
   * locks, writes this instance's rows, and notifies the changes nobody else's rows cover.
   */
  const joins = createBatches(async (changes) => {
    const { registered: made, decided } = await tables.firstJoins(changes);
    noteRegistration(made);
    return decided;
  });
  // A row already gone was removed with this instance while it was taken for dead: the others were told then (not
  // again now), this instance's sockets were not (the hub tells them when `last`).
  const leaves = createBatches((changes) => tables.lastLeaves(changes));

  /** `made`: this instance's row had to be made; missing after the first time, the others took it for dead. */
  function noteRegistration(made: boolean) {
    if (made && registered) void restore(true);
    registered = true;
  }
  async function register() {
    noteRegistration(await tables.register());
  }

  /**
   * Puts this instance's missing rows back. After the others removed this instance (`afterRemoval`), the users now
   * absent everywhere were announced as gone, so they are announced as back; rows lost otherwise (a database
   * crash) were never announced as gone, so they are put back quietly.
   */
  function restore(afterRemoval: boolean): Promise<void> {
    restoring = restoring
      .then(async () => {
        const rooms = new Set<number>();
        const kept = await tables.ownKeys();
        for (const { roomId, userId, username } of counts.entries()) {
          if (kept.has(`${roomId}:${userId}`)) continue;
          await serially(roomId, userId, () =>
            tables.transaction(async (tx) => {
              const sockets = counts.count(roomId, userId);
              if (sockets === 0) return;
              await tx.lock(roomId, userId);
              const inserted = await tx.upsert(roomId, userId, username, sockets);
              written.set(`${roomId}:${userId}`, sockets);
              if (afterRemoval && inserted && !(await tx.othersHave(roomId, userId))) {
                await tx.announce(payload({ roomId, userId, username, change: "joined", at: Date.now() }));
                rooms.add(roomId);
              }
            }),
          );
        }
        if (rooms.size > 0) handlers?.restored([...rooms]);
      })
      .catch(() => {});
    return restoring;
  }

  async function beat() {
    if (!(await tables.heartbeat())) await register();
    await restoring;
    // Rows lost in a database crash are put back (checked while no change is on its way, so the counts agree).
    if (queues.size === 0) {
      const rows = await tables.countOwn();
      if (queues.size === 0 && rows !== [...counts.entries()].length) await restore(false);
    }
    // One transaction: the dead instances' rows go, and each of their users is checked under its lock, so a join
    // elsewhere either comes before (and the user stays) or after (and is a new arrival). Each dead instance is
    // removed by exactly one surviving one.
    const gone: PresenceChange[] = [];
    await tables.transaction(async (tx) => {
      for (const row of await tx.removeDead()) {
        await tx.lock(row.room_id, row.user_id);
        if (await tx.othersHave(row.room_id, row.user_id, true)) continue;
        const change = { roomId: row.room_id, userId: row.user_id, username: row.username, at: Date.now() };
        await tx.announce(payload({ ...change, change: "left" }));
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
      timer = setInterval(
        () => beat().catch((error) => log({ level: "error", msg: "presence heartbeat failed", error: String(error) })),
        heartbeatMs,
      );
      timer.unref?.();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await tables.deregister().catch(() => {});
      await tables.end();
    },
    join(roomId, userId, username, at) {
      const { first } = counts.join(roomId, userId, username);
      return serially(roomId, userId, async () => {
        const sockets = counts.count(roomId, userId);
        if (!first) {
          await writeCount(roomId, userId);
          return { first: false };
        }
        const present = await joins.add({
          roomId,
          userId,
          username,
          sockets,
          payload: payload({ roomId, userId, username, change: "joined", at }),
        });
        written.set(`${roomId}:${userId}`, sockets);
        return { first: !present };
      });
    },
    leave(roomId, userId, username, at) {
      const { last } = counts.leave(roomId, userId);
      return serially(roomId, userId, () =>
        untilStored(roomId, userId, async () => {
          if (!last) {
            await writeCount(roomId, userId);
            return { last: false };
          }
          written.delete(`${roomId}:${userId}`);
          const present = await leaves.add({
            roomId,
            userId,
            username,
            sockets: 0,
            payload: payload({ roomId, userId, username, change: "left", at }),
          });
          return { last: !present };
        }),
      );
    },
    list: (roomId): Promise<PresenceUser[]> => tables.list(roomId),
    peers: () => tables.peers(),
  };
}
