// The SQL of cross-instance presence (src/realtime/presence-postgres.ts holds its logic): each instance's socket
// counts in `presence`, its heartbeat in `instances`, and the NOTIFY of a first join or last leave sent from the
// transaction that decided it.
import type postgres from "postgres";
import { NOTIFY_CHANNEL } from "../../realtime/bus.ts";
import { connectPostgres } from "./connect.ts";

/** A first join or last leave to write: this instance's count, and the notification to send if it decides. */
export interface PresenceWrite {
  roomId: number;
  userId: number;
  username: string;
  sockets: number;
  /** A BusEvent as JSON; sent only if no other instance has the user in the room. */
  payload: string;
}

/** Per (room, user) of a batch: whether another instance has the user there. */
export interface PresenceDecision {
  room_id: number;
  user_id: number;
  present: boolean;
}

/** Statements inside one presence transaction. */
export interface PresenceTx {
  /** The (room, user) lock every decision about the pair is taken under. */
  lock(roomId: number, userId: number): Promise<void>;
  /** Under the lock: whether another instance (or any, this one included) has this user in the room. */
  othersHave(roomId: number, userId: number, includingThis?: boolean): Promise<boolean>;
  /** Sends a BusEvent (JSON) at commit. */
  announce(payload: string): Promise<void>;
  /** Writes this instance's row (its count); true when the row was not there. */
  upsert(roomId: number, userId: number, username: string, sockets: number): Promise<boolean>;
  /** Removes the instances silent for the TTL; the (room, user) rows they had, in key order (each once). */
  removeDead(): Promise<{ room_id: number; user_id: number; username: string }[]>;
}

export interface PresenceStore {
  /**
   * First joins, many at a time: writes this instance's rows (registering it first) and notifies the changes no
   * other instance's rows cover. `registered`: this instance's `instances` row had to be made.
   */
  firstJoins(changes: readonly PresenceWrite[]): Promise<{ registered: boolean; decided: PresenceDecision[] }>;
  /** Last leaves, many at a time: removes this instance's rows and notifies what no other instance's rows cover. */
  lastLeaves(changes: readonly PresenceWrite[]): Promise<PresenceDecision[]>;
  /** Another socket opened or closed: only the count changes. */
  setSockets(roomId: number, userId: number, sockets: number): Promise<void>;
  /** This instance's rows, as `room:user` keys. */
  ownKeys(): Promise<Set<string>>;
  countOwn(): Promise<number>;
  /** A transaction whose commit does not wait for the WAL flush (see below), for `work`'s statements. */
  transaction<T>(work: (tx: PresenceTx) => Promise<T>): Promise<T>;
  /** The heartbeat; false when this instance's row is gone (the others took it for dead). */
  heartbeat(): Promise<boolean>;
  /** Makes this instance's `instances` row if missing; true when it was. */
  register(): Promise<boolean>;
  deregister(): Promise<void>;
  /** Who is in the room on any instance, by user id. */
  list(roomId: number): Promise<{ user_id: number; username: string }[]>;
  /** The other instances heard from within the TTL. */
  peers(): Promise<string[]>;
  end(): Promise<void>;
}

type Tx = postgres.TransactionSql<{}>;

export function openPresenceStore(url: string, instanceId: string, ttlSeconds: number): PresenceStore {
  const sql = connectPostgres(url, { max: 2 });

  /**
   * A transaction that notifies holds PostgreSQL's notification lock through its commit, WAL flush included, so
   * waiting for the flush would serialise every join and leave (and every message batch) behind the disk: a
   * reconnect storm of 10,000 sockets took 5 times as long to settle. Each heartbeat puts back rows a database
   * crash lost (presence-postgres.ts, beat), so these commits need not wait for the flush.
   */
  const noFlushWait = (tx: Tx) => tx`SET LOCAL synchronous_commit = off`;
  /** Before any lock (a removal of this instance holds its row until it commits, and may wait for our locks). */
  const registerQuery = (tx: Tx | typeof sql) =>
    tx`INSERT INTO instances (id, heartbeat_at) VALUES (${instanceId}, now()) ON CONFLICT (id) DO NOTHING RETURNING id`;
  /** The (room, user) locks of a batch, taken in key order so that two batches cannot deadlock. */
  const lockAll = (tx: Tx, input: string) =>
    tx`SELECT pg_advisory_xact_lock(room_id, user_id) FROM (
         SELECT room_id, user_id FROM json_to_recordset(${input}::text::json) AS x(room_id int, user_id int) ORDER BY 1, 2) k`;
  /** Input travels as one JSON parameter. */
  const json = (changes: readonly PresenceWrite[]) =>
    JSON.stringify(
      changes.map((c) => ({
        room_id: c.roomId,
        user_id: c.userId,
        username: c.username,
        sockets: c.sockets,
        payload: c.payload,
      })),
    );

  const inTx = (tx: Tx): PresenceTx => ({
    async lock(roomId, userId) {
      await tx`SELECT pg_advisory_xact_lock(${roomId}, ${userId})`;
    },
    async othersHave(roomId, userId, includingThis = false) {
      return (
        (
          await tx`SELECT 1 FROM presence WHERE room_id = ${roomId} AND user_id = ${userId}
                       AND (instance_id <> ${instanceId} OR ${includingThis}) LIMIT 1`
        ).length > 0
      );
    },
    async announce(payload) {
      await tx`SELECT pg_notify(${NOTIFY_CHANNEL}, ${payload})`;
    },
    async upsert(roomId, userId, username, sockets) {
      const [row] = await tx<{ inserted: boolean }[]>`
        INSERT INTO presence (instance_id, room_id, user_id, username, sockets)
        VALUES (${instanceId}, ${roomId}, ${userId}, ${username}, ${sockets})
        ON CONFLICT (room_id, user_id, instance_id) DO UPDATE SET sockets = EXCLUDED.sockets
        RETURNING (xmax = 0) AS inserted`;
      return row!.inserted;
    },
    async removeDead() {
      // DELETE ... RETURNING hands each dead instance to exactly one surviving one.
      return tx<{ room_id: number; user_id: number; username: string }[]>`
        WITH dead AS (DELETE FROM instances WHERE heartbeat_at < now() - ${ttlSeconds} * interval '1 second' RETURNING id)
        SELECT DISTINCT p.room_id, p.user_id, p.username FROM presence p JOIN dead ON p.instance_id = dead.id
        ORDER BY p.room_id, p.user_id`;
    },
  });

  return {
    // Each batch sends its statements together and PostgreSQL runs them in order: the locks, then one statement
    // that starts (and reads the table) once they are held, writes this instance's rows, and notifies.
    async firstJoins(changes) {
      const input = json(changes);
      const [, made, , decided] = await sql.begin((tx) => [
        noFlushWait(tx),
        registerQuery(tx),
        lockAll(tx, input),
        tx<PresenceDecision[]>`
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
      return { registered: made.length > 0, decided };
    },
    // A row already gone was removed with this instance while it was taken for dead: the others were told then
    // (not again now).
    async lastLeaves(changes) {
      const input = json(changes);
      const [, , decided] = await sql.begin((tx) => [
        noFlushWait(tx),
        lockAll(tx, input),
        tx<PresenceDecision[]>`
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
    },
    async setSockets(roomId, userId, sockets) {
      await sql`UPDATE presence SET sockets = ${sockets} WHERE instance_id = ${instanceId} AND room_id = ${roomId} AND user_id = ${userId}`;
    },
    async ownKeys() {
      const rows = await sql<
        { key: string }[]
      >`SELECT room_id || ':' || user_id AS key FROM presence WHERE instance_id = ${instanceId}`;
      return new Set(rows.map((r) => r.key));
    },
    async countOwn() {
      const [{ rows }] = await sql<
        [{ rows: number }]
      >`SELECT count(*)::int AS rows FROM presence WHERE instance_id = ${instanceId}`;
      return rows;
    },
    transaction<T>(work: (tx: PresenceTx) => Promise<T>) {
      return sql.begin(async (tx) => {
        await noFlushWait(tx);
        return work(inTx(tx));
      }) as Promise<T>;
    },
    async heartbeat() {
      return (await sql`UPDATE instances SET heartbeat_at = now() WHERE id = ${instanceId} RETURNING id`).length > 0;
    },
    async register() {
      return (await registerQuery(sql)).length > 0;
    },
    async deregister() {
      await sql`DELETE FROM instances WHERE id = ${instanceId}`;
    },
    async list(roomId) {
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
    end: () => sql.end({ timeout: 2 }),
  };
}
