// Presence across instances: each instance mirrors its socket counts into the `presence` table and heartbeats in
// `instances`; an instance silent for INSTANCE_TTL_MS is removed by the others, and its users leave their rooms.
import { connectPostgres } from "../store/postgres/connect.ts";
import { createSocketCounts, type Presence } from "./presence.ts";
import type { PresenceUser } from "./protocol.ts";

/** Default: a dead instance's users are gone from presence within this plus one heartbeat (a third of it). */
export const INSTANCE_TTL_MS = 15_000;

export interface ClusterPresence extends Presence {
  start(onExpired: (gone: { roomId: number; userId: number; username: string }[]) => void): Promise<void>;
  stop(): Promise<void>;
}

export function createPostgresPresence(url: string, instanceId: string, ttlMs = INSTANCE_TTL_MS): ClusterPresence {
  const heartbeatMs = Math.max(1000, Math.floor(ttlMs / 3));
  const ttlSeconds = ttlMs / 1000;
  const sql = connectPostgres(url, { max: 2 });
  const counts = createSocketCounts();
  let timer: ReturnType<typeof setInterval> | undefined;

  const othersHave = async (roomId: number, userId: number) =>
    (await sql`SELECT 1 FROM presence WHERE room_id = ${roomId} AND user_id = ${userId} AND instance_id <> ${instanceId} LIMIT 1`)
      .length > 0;

  async function beat(onExpired: Parameters<ClusterPresence["start"]>[0]) {
    await sql`INSERT INTO instances (id, heartbeat_at) VALUES (${instanceId}, now())
              ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`;
    // DELETE ... RETURNING hands each dead row to exactly one surviving instance, which announces it.
    const gone = await sql<{ room_id: number; user_id: number; username: string }[]>`
      DELETE FROM presence p USING instances i
      WHERE p.instance_id = i.id AND i.heartbeat_at < now() - ${ttlSeconds} * interval '1 second'
      RETURNING p.room_id, p.user_id, p.username`;
    await sql`DELETE FROM instances WHERE heartbeat_at < now() - ${ttlSeconds} * interval '1 second'`;
    const left = [];
    for (const row of gone) {
      if (counts.count(row.room_id, row.user_id) === 0 && !(await othersHave(row.room_id, row.user_id))) {
        left.push({ roomId: row.room_id, userId: row.user_id, username: row.username });
      }
    }
    if (left.length > 0) onExpired(left);
  }

  return {
    async start(onExpired) {
      await beat(onExpired);
      timer = setInterval(() => beat(onExpired).catch(() => {}), heartbeatMs);
      timer.unref?.();
    },
    async stop() {
      clearInterval(timer);
      await sql`DELETE FROM instances WHERE id = ${instanceId}`.catch(() => {});
      await sql.end({ timeout: 2 });
    },
    async join(roomId, userId, username) {
      const { first } = counts.join(roomId, userId, username);
      await sql`INSERT INTO presence (instance_id, room_id, user_id, username, sockets)
                VALUES (${instanceId}, ${roomId}, ${userId}, ${username}, ${counts.count(roomId, userId)})
                ON CONFLICT (room_id, user_id, instance_id) DO UPDATE SET sockets = EXCLUDED.sockets`;
      return { first: first && !(await othersHave(roomId, userId)) };
    },
    async leave(roomId, userId) {
      const { last } = counts.leave(roomId, userId);
      if (!last) {
        await sql`UPDATE presence SET sockets = ${counts.count(roomId, userId)}
                  WHERE instance_id = ${instanceId} AND room_id = ${roomId} AND user_id = ${userId}`;
        return { last: false };
      }
      await sql`DELETE FROM presence WHERE instance_id = ${instanceId} AND room_id = ${roomId} AND user_id = ${userId}`;
      return { last: !(await othersHave(roomId, userId)) };
    },
    async peers() {
      const rows = await sql<{ id: string }[]>`
        SELECT id FROM instances WHERE id <> ${instanceId} AND heartbeat_at >= now() - ${ttlSeconds} * interval '1 second'`;
      return rows.map((r) => r.id);
    },
    async list(roomId): Promise<PresenceUser[]> {
      const rows = await sql<{ user_id: number; username: string }[]>`
        SELECT user_id, min(username) AS username FROM presence WHERE room_id = ${roomId}
        GROUP BY user_id ORDER BY user_id`;
      return rows.map((r) => ({ user_id: r.user_id, username: r.username }));
    },
  };
}
