// Read positions, and what a room list shows of each room for a reader: unread counts and the newest message.
import type postgres from "postgres";
import { LAST_MESSAGE_CHARS, UNREAD_CAP, type RoomActivity, type ReadPositionQueries } from "../store.ts";
import { arrayLiteral } from "./connect.ts";

export function readPositionQueries(client: postgres.Sql): ReadPositionQueries {
  return {
    async setReadPosition(userId, roomId, messageId, at) {
      const [moved] = await client<{ message_id: number }[]>`
        INSERT INTO read_positions (user_id, room_id, message_id, updated_at)
        SELECT ${userId}, ${roomId}, least(${messageId}::int, newest), to_timestamp(${at.getTime()} / 1000.0)
        FROM (SELECT max(id) AS newest FROM messages WHERE room_id = ${roomId}) m WHERE newest IS NOT NULL
        ON CONFLICT (user_id, room_id) DO UPDATE SET message_id = excluded.message_id, updated_at = excluded.updated_at
          WHERE excluded.message_id > read_positions.message_id
        RETURNING message_id`;
      if (moved) return { position: moved.message_id, moved: true };
      const [row] = await client<
        { message_id: number }[]
      >`SELECT message_id FROM read_positions WHERE user_id = ${userId} AND room_id = ${roomId}`;
      return { position: row?.message_id ?? null, moved: false };
    },
    async roomActivity(userId, list) {
      const rows = await client<
        {
          room_id: number;
          last_read: number | null;
          unread: number | null;
          id: number | null;
          user_id: number;
          username: string;
          content: string;
          created_ms: number;
        }[]
      >`
        SELECT r.room_id, p.message_id AS last_read,
               CASE WHEN p.message_id IS NULL AND NOT r.from_start THEN NULL
                    ELSE (SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.room_id = r.room_id AND m.id > coalesce(p.message_id, 0)
                                                AND m.user_id <> ${userId} LIMIT ${UNREAD_CAP + 1}) c)::int END AS unread,
               lm.id, lm.user_id, u.username, left(lm.content, ${LAST_MESSAGE_CHARS}) AS content,
               round(extract(epoch FROM lm.created_at) * 1000)::float8 AS created_ms
        FROM unnest(${arrayLiteral(list.map((r) => r.id))}::int[], ${arrayLiteral(list.map((r) => String(r.countFromStart)))}::bool[])
          AS r(room_id, from_start)
        LEFT JOIN read_positions p ON p.room_id = r.room_id AND p.user_id = ${userId}
        LEFT JOIN LATERAL (SELECT id, user_id, content, created_at FROM messages WHERE room_id = r.room_id ORDER BY id DESC LIMIT 1) lm ON true
        LEFT JOIN users u ON u.id = lm.user_id`;
      return new Map(
        rows.map((r): [number, RoomActivity] => [
          r.room_id,
          {
            lastReadId: r.last_read,
            unread: r.unread,
            lastMessage:
              r.id === null
                ? null
                : {
                    id: r.id,
                    userId: r.user_id,
                    username: r.username,
                    content: r.content,
                    createdAt: new Date(r.created_ms),
                  },
          },
        ]),
      );
    },
  };
}
