// Drizzle schema for the embedded SQLite store; table and column names match the PostgreSQL schema.
import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const users = sqliteTable("users", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  username: text("username").notNull().unique(),
  email: text("email").notNull().unique(),
  passwordHash: text("hashed_password").notNull(),
  role: text("role", { enum: ["admin", "user"] }).notNull().default("user"),
  tokenVersion: integer("token_version").notNull().default(0),
  // 0, except on accounts that were case twins of an older one (alice / Alice) before names and emails became
  // unique whatever their case: there it is the account's own id, so both accounts keep working (migrations case_twins).
  usernameTwin: integer("username_twin").notNull().default(0),
  emailTwin: integer("email_twin").notNull().default(0),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
},
  (table) => [
    // Unique whatever the case, shown as typed; lookups by lower() read these indexes.
    uniqueIndex("users_username_lower_key").on(sql`lower(${table.username})`, table.usernameTwin),
    uniqueIndex("users_email_lower_key").on(sql`lower(${table.email})`, table.emailTwin),
  ],
);

export const rooms = sqliteTable("rooms", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  description: text("description"),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
});

// AUTOINCREMENT: ids are never reused, so a client's `since`/`after` cursor stays meaningful after deletes.
export const messages = sqliteTable(
  "messages",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    roomId: integer("room_id").notNull().references(() => rooms.id, { onDelete: "cascade" }),
    userId: integer("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
    content: text("content").notNull(),
    clientId: text("client_id"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    editedAt: integer("edited_at", { mode: "timestamp_ms" }),
  },
  (table) => [
    // "room R, id below X, newest first" is a range scan of this index.
    index("messages_room_id_id_idx").on(table.roomId, table.id),
    // A client_id belongs to its room: the same one sent in another room is another message.
    uniqueIndex("messages_room_id_user_id_client_id_key").on(table.roomId, table.userId, table.clientId),
  ],
);

export const schema = { users, rooms, messages };
