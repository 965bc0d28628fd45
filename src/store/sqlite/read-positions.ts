// Read positions, and what a room list shows of each room for a reader: unread counts and the newest message.
import type { Database } from "bun:sqlite";
import { LAST_MESSAGE_CHARS, UNREAD_CAP, type RoomActivity, type ReadPositionQueries } from "../store.ts";

export function readPositionQueries(sqlite: Database): ReadPositionQueries {
  // Each a range of the (room_id, id) index.
  const moveReadPosition = sqlite.query<{ message_id: number }, { user: number; room: number; id: number; at: number }>(
    `INSERT INTO read_positions (user_id, room_id, message_id, updated_at)
     SELECT $user, $room, min($id, newest), $at FROM (SELECT max(id) AS newest FROM messages WHERE room_id = $room) WHERE newest IS NOT NULL
     ON CONFLICT (user_id, room_id) DO UPDATE SET message_id = excluded.message_id, updated_at = excluded.updated_at
       WHERE excluded.message_id > read_positions.message_id
     RETURNING message_id`,
  );
  const readPosition = sqlite.query<{ message_id: number }, { user: number; room: number }>(
    "SELECT message_id FROM read_positions WHERE user_id = $user AND room_id = $room",
  );
  const unreadCount = sqlite.query<{ n: number }, { user: number; room: number; after: number }>(
    `SELECT count(*) AS n FROM (SELECT 1 FROM messages WHERE room_id = $room AND id > $after AND user_id <> $user LIMIT ${UNREAD_CAP + 1})`,
  );
  const newestMessage = sqlite.query<
    { id: number; user_id: number; username: string; content: string; created_at: number },
    { room: number }
  >(
    `SELECT m.id, m.user_id, u.username, substr(m.content, 1, ${LAST_MESSAGE_CHARS}) AS content, m.created_at
     FROM messages m JOIN users u ON u.id = m.user_id WHERE m.room_id = $room ORDER BY m.id DESC LIMIT 1`,
  );

  return {
    async setReadPosition(userId, roomId, messageId, at) {
      const moved = moveReadPosition.get({ user: userId, room: roomId, id: messageId, at: at.getTime() });
      if (moved) return { position: moved.message_id, moved: true };
      return { position: readPosition.get({ user: userId, room: roomId })?.message_id ?? null, moved: false };
    },
    async roomActivity(userId, list) {
      const activity = new Map<number, RoomActivity>();
      for (const { id: room, countFromStart } of list) {
        const position = readPosition.get({ user: userId, room })?.message_id ?? null;
        const last = newestMessage.get({ room });
        const counted = position !== null || countFromStart;
        activity.set(room, {
          lastReadId: position,
          unread: !counted ? null : last ? unreadCount.get({ user: userId, room, after: position ?? 0 })!.n : 0,
          lastMessage: last
            ? {
                id: last.id,
                userId: last.user_id,
                username: last.username,
                content: last.content,
                createdAt: new Date(last.created_at),
              }
            : null,
        });
      }
      return activity;
    },
  };
}
