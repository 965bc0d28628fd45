// What the store's parts share about reading rows: the Drizzle database type, and messages as raw SQL returns them.
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type { MessageRecord } from "../store.ts";
import type { schema } from "./schema.ts";

export type Db = PostgresJsDatabase<typeof schema>;

export const first = <T>(rows: T[]): T | undefined => rows[0];

export interface MessageRow {
  id: number;
  room_id: number;
  user_id: number;
  content: string;
  client_id: string | null;
  created_ms: number;
  edited_ms: number | null;
}

// Drizzle reconfigures the shared postgres-js client to return timestamps as strings; epoch milliseconds as
// float8 come back as numbers whatever the parsers are. (So do the other parts' raw statements.)
export const ROW_COLUMNS = `id, room_id, user_id, content, client_id,
  round(extract(epoch FROM created_at) * 1000)::float8 AS created_ms,
  round(extract(epoch FROM edited_at) * 1000)::float8 AS edited_ms`;

export function toRecord(row: MessageRow): MessageRecord {
  return {
    id: row.id,
    roomId: row.room_id,
    userId: row.user_id,
    content: row.content,
    clientId: row.client_id,
    createdAt: new Date(row.created_ms),
    editedAt: row.edited_ms === null ? null : new Date(row.edited_ms),
  };
}
