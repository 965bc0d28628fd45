// Drizzle schema for the embedded SQLite store; table and column names match the PostgreSQL schema.
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const users = sqliteTable(
  "users",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    // Unique whatever the case: the users_username_lower_key index below (which keeps deleted accounts apart too).
    username: text("username").notNull(),
    email: text("email").notNull().unique(),
    passwordHash: text("hashed_password").notNull(),
    role: text("role", { enum: ["admin", "user"] })
      .notNull()
      .default("user"),
    tokenVersion: integer("token_version").notNull().default(0),
    // A disabled account cannot log in, refresh or use its tokens; a deleted one is kept, anonymised, for its messages.
    status: text("status", { enum: ["active", "disabled", "deleted"] })
      .notNull()
      .default("active"),
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

export const rooms = sqliteTable(
  "rooms",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    // A direct room's name is not shown (each of its two people sees the other's username) and is left empty.
    name: text("name").notNull(),
    description: text("description"),
    visibility: text("visibility", { enum: ["public", "private"] })
      .notNull()
      .default("public"),
    kind: text("kind", { enum: ["room", "direct"] })
      .notNull()
      .default("room"),
    // A direct room's two people, "<lower id>:<higher id>": one direct room per pair, however many ask at once.
    directKey: text("direct_key").unique(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [
    // Only public names are unique: a private room's name must not be found out by trying to take it.
    uniqueIndex("rooms_public_name_key").on(table.name).where(sql`visibility = 'public'`),
  ],
);

// Who belongs to a private or direct room (public rooms have no members). Goes with its room or user.
export const roomMembers = sqliteTable(
  "room_members",
  {
    roomId: integer("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: text("role", { enum: ["owner", "member"] }).notNull(),
    joinedAt: integer("joined_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.roomId, table.userId] }),
    index("room_members_user_id_idx").on(table.userId),
  ],
);

// Refresh tokens, stored only as SHA-256 hashes. A family is one login's chain of rotations: each refresh spends
// its token and adds the next; revoking sets expires_at to the moment of revocation (src/auth/refresh.ts).
export const refreshTokens = sqliteTable(
  "refresh_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    familyId: text("family_id").notNull(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
    spentAt: integer("spent_at", { mode: "timestamp_ms" }),
  },
  (table) => [
    index("refresh_tokens_user_id_idx").on(table.userId),
    index("refresh_tokens_family_id_idx").on(table.familyId),
  ],
);

// How far each person has read each room: the id of the newest message they have seen. Only moves forward; goes
// with its room or user.
export const readPositions = sqliteTable(
  "read_positions",
  {
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    roomId: integer("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    messageId: integer("message_id").notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.userId, table.roomId] })],
);

// AUTOINCREMENT: ids are never reused, so a client's `since`/`after` cursor stays meaningful after deletes.
export const messages = sqliteTable(
  "messages",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    roomId: integer("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    content: text("content").notNull(),
    clientId: text("client_id"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    editedAt: integer("edited_at", { mode: "timestamp_ms" }),
  },
  (table) => [
    // "room R, id below X, newest first" is a range scan of this index. The author rides along so that an unread
    // count ("after my position, not mine") reads the index alone (100 never-read rooms of 10,000 messages:
    // 275 -> 9 ms on SQLite).
    index("messages_room_id_id_user_id_idx").on(table.roomId, table.id, table.userId),
    // No index on (room_id, user_id, client_id): a resend is found in memory, for the newest messages
    // (resend-window.ts); that index cost a page write per sender in every group commit.
  ],
);

// Rooms deleted whose messages are still being deleted, a chunk at a time (room-purge.ts).
export const roomPurges = sqliteTable("room_purges", {
  roomId: integer("room_id").primaryKey(),
});

export const schema = { users, refreshTokens, rooms, roomMembers, readPositions, messages, roomPurges };
