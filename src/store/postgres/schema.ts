// Drizzle schema for the PostgreSQL store; table and column names match the SQLite schema.
import { sql } from "drizzle-orm";
import { bigint, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

const millis = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: "date" });

export const users = pgTable("users", {
  id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
  username: text("username").notNull().unique(),
  email: text("email").notNull().unique(),
  passwordHash: text("hashed_password").notNull(),
  role: text("role", { enum: ["admin", "user"] }).notNull().default("user"),
  tokenVersion: integer("token_version").notNull().default(0),
  // 0, except on accounts that were case twins of an older one (alice / Alice) before names and emails became
  // unique whatever their case: there it is the account's own id, so both accounts keep working (migrations case_twins).
  usernameTwin: integer("username_twin").notNull().default(0),
  emailTwin: integer("email_twin").notNull().default(0),
  createdAt: millis("created_at").notNull(),
},
  (table) => [
    // Unique whatever the case, shown as typed; lookups by lower() read these indexes.
    uniqueIndex("users_username_lower_key").on(sql`lower(${table.username})`, table.usernameTwin),
    uniqueIndex("users_email_lower_key").on(sql`lower(${table.email})`, table.emailTwin),
  ],
);

export const rooms = pgTable("rooms", {
  id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
  name: text("name").notNull().unique(),
  description: text("description"),
  createdAt: millis("created_at").notNull(),
});

// No foreign keys on messages (migration 0002 dropped them): their per-row triggers took 40 % of a batch
// INSERT's time, each row locking its room and author again. The store keeps the same guarantee itself, once per
// batch (src/store/postgres/store.ts, `insertBatch`): a message is stored only if its room and author exist, and
// deleting a room or user deletes their messages.
export const messages = pgTable(
  "messages",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
    roomId: integer("room_id").notNull(),
    userId: integer("user_id").notNull(),
    content: text("content").notNull(),
    clientId: text("client_id"),
    createdAt: millis("created_at").notNull(),
    editedAt: millis("edited_at"),
  },
  (table) => [
    // "room R, id below X, newest first" is a range scan of this index.
    index("messages_room_id_id_idx").on(table.roomId, table.id),
    // A client_id belongs to its room: the same one sent in another room is another message.
    uniqueIndex("messages_room_id_user_id_client_id_key").on(table.roomId, table.userId, table.clientId),
  ],
);



// Several instances on one database: each heartbeats here, and presence lists every instance's sockets.
export const instances = pgTable("instances", {
  id: text("id").primaryKey(),
  heartbeatAt: millis("heartbeat_at").notNull(),
});

export const presence = pgTable(
  "presence",
  {
    instanceId: text("instance_id").notNull().references(() => instances.id, { onDelete: "cascade" }),
    roomId: integer("room_id").notNull(),
    userId: integer("user_id").notNull(),
    username: text("username").notNull(),
    sockets: integer("sockets").notNull(),
  },
  (table) => [primaryKey({ columns: [table.roomId, table.userId, table.instanceId] })],
);
// Edits and deletes, kept for an hour: an instance whose bus listener was away reads what it missed from here
// (src/realtime/hub.ts, catchUp). Written in the same statement as the change; pruned by the next one.
export const messageChanges = pgTable("message_changes", {
  seq: bigint("seq", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  roomId: integer("room_id").notNull(),
  messageId: integer("message_id").notNull(),
  kind: text("kind", { enum: ["updated", "deleted"] }).notNull(),
  at: millis("at").notNull().defaultNow(),
});

export const schema = { users, rooms, messages, instances, presence, messageChanges };
