// What the foreign keys from messages did before they were dropped (schema.ts): a message is stored only if its
// room and author exist, and deleting either deletes its messages.
import type postgres from "postgres";
import { arrayLiteral } from "./connect.ts";

/**
 * SQL that is true once every room and author the messages name is key-share locked (each once), and fails with
 * foreign_key_violation if one does not exist: the check the dropped foreign keys made row by row. Locking reads
 * the newest committed rows, so a delete committed after the statement began is seen; one that starts later waits
 * for this transaction. `after`: a condition evaluated first (the insert lock).
 */
export function requireReferences(
  sql: postgres.Sql | postgres.TransactionSql,
  batch: readonly { roomId: number; userId: number }[],
  after: postgres.PendingQuery<postgres.Row[]>,
) {
  const roomIds = [...new Set(batch.map((m) => m.roomId))];
  const userIds = [...new Set(batch.map((m) => m.userId))];
  return sql`chat_require_references(
    (SELECT count(*) FROM (SELECT FROM rooms WHERE id = ANY(${arrayLiteral(roomIds)}::int[]) AND ${after} FOR KEY SHARE) r)
      + (SELECT count(*) FROM (SELECT FROM users WHERE id = ANY(${arrayLiteral(userIds)}::int[]) AND ${after} FOR KEY SHARE) u),
    ${roomIds.length + userIds.length})`;
}

/**
 * Deletes a room or user and its messages (the cascade the dropped foreign keys did). The row goes first: its
 * delete waits for message INSERTs that key-share locked it, and then the messages' delete, a statement of its
 * own with a fresh snapshot, sees what they stored. INSERTs after it find the row gone.
 */
export async function deleteWithMessages(
  client: postgres.Sql,
  table: "rooms" | "users",
  column: "room_id" | "user_id",
  id: number,
) {
  return client.begin(async (tx) => {
    const gone = await tx`DELETE FROM ${tx(table)} WHERE id = ${id} RETURNING id`;
    if (gone.length > 0) await tx`DELETE FROM messages WHERE ${tx(column)} = ${id}`;
    return gone.length > 0;
  });
}
