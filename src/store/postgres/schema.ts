// Drizzle schema for the PostgreSQL store; table and column names match the SQLite schema.
import { sql } from "drizzle-orm";
import {
  bigint,
  customType,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

const millis = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: "date" });
const tsvector = customType<{ data: string }>({ dataType: () => "tsvector" });

export const users = pgTable(
  "users",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
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
    createdAt: millis("created_at").notNull(),
  },
  (table) => [
    // Unique whatever the case, shown as typed; lookups by lower() read these indexes.
    uniqueIndex("users_username_lower_key").on(sql`lower(${table.username})`, table.usernameTwin),
    uniqueIndex("users_email_lower_key").on(sql`lower(${table.email})`, table.emailTwin),
  ],
);

export const rooms = pgTable(
  "rooms",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
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
    createdAt: millis("created_at").notNull(),
  },
  (table) => [
    // Only public names are unique: a private room's name must not be found out by trying to take it.
    uniqueIndex("rooms_public_name_key").on(table.name).where(sql`visibility = 'public'`),
  ],
);

// Who belongs to a private or direct room (public rooms have no members). Goes with its room or user.
export const roomMembers = pgTable(
  "room_members",
  {
    roomId: integer("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: text("role", { enum: ["owner", "member"] }).notNull(),
    joinedAt: millis("joined_at").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.roomId, table.userId] }),
    index("room_members_user_id_idx").on(table.userId),
  ],
);

// Refresh tokens, stored only as SHA-256 hashes. A family is one login's chain of rotations: each refresh spends
// its token and adds the next; revoking sets expires_at to the moment of revocation (src/auth/refresh.ts).
export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    familyId: text("family_id").notNull(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: millis("created_at").notNull(),
    expiresAt: millis("expires_at").notNull(),
    spentAt: millis("spent_at"),
  },
  (table) => [
    index("refresh_tokens_user_id_idx").on(table.userId),
    index("refresh_tokens_family_id_idx").on(table.familyId),
  ],
);

// How far each person has read each room: the id of the newest message they have seen. Only moves forward; goes
// with its room or user.
export const readPositions = pgTable(
  "read_positions",
  {
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    roomId: integer("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    messageId: integer("message_id").notNull(),
    updatedAt: millis("updated_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.userId, table.roomId] })],
);

// No foreign keys on messages (migration 0002 dropped them): their per-row triggers took 40 % of a batch
// INSERT's time, each row locking its room and author again. The store keeps the same guarantee itself, once per
// batch (src/store/postgres/references.ts): a message is stored only if its room and author exist, and deleting a
// room or user deletes their messages.
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
    // "room R, id below X, newest first" is a range scan of this index. The author rides along so that an unread
    // count ("after my position, not mine") reads the index alone (100 never-read rooms of 10,000 messages:
    // 275 -> 9 ms on SQLite).
    index("messages_room_id_id_user_id_idx").on(table.roomId, table.id, table.userId),
    // A client_id belongs to its room: the same one sent in another room is another message.
    uniqueIndex("messages_room_id_user_id_client_id_key").on(table.roomId, table.userId, table.clientId),
  ],
);

// Full-text search: each message's words as src/search/text.ts folds them (case and accents). A table of its own,
// written beside the group commit (the store's indexer), not by the message INSERT: GIN entries written with
// each batch doubled the time PostgreSQL took to store it. No foreign key, as on messages: deletes of messages
// take their words with them (the trigger message_words_delete, migration search_words).
export const messageWords = pgTable(
  "message_words",
  {
    messageId: integer("message_id").primaryKey(),
    words: tsvector("words").notNull(),
  },
  (table) => [index("message_words_words_idx").using("gin", table.words)],
);

// Several instances on one database: each heartbeats here, and presence lists every instance's sockets.
export const instances = pgTable("instances", {
  id: text("id").primaryKey(),
  heartbeatAt: millis("heartbeat_at").notNull(),
});

export const presence = pgTable(
  "presence",
  {
    instanceId: text("instance_id")
      .notNull()
      .references(() => instances.id, { onDelete: "cascade" }),
    roomId: integer("room_id").notNull(),
    userId: integer("user_id").notNull(),
    username: text("username").notNull(),
    sockets: integer("sockets").notNull(),
  },
  (table) => [primaryKey({ columns: [table.roomId, table.userId, table.instanceId] })],
);
// Edits and deletes, kept for an hour: an instance whose bus listener was away reads what it missed from here
// (src/realtime/cluster-order.ts, catchUp; SQL in src/store/postgres/change-log.ts). Written in the same statement
// as the change; pruned by the next one.
export const messageChanges = pgTable("message_changes", {
  seq: bigint("seq", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  roomId: integer("room_id").notNull(),
  messageId: integer("message_id").notNull(),
  kind: text("kind", { enum: ["updated", "deleted"] }).notNull(),
  at: millis("at").notNull().defaultNow(),
});

export const schema = {
  users,
  refreshTokens,
  rooms,
  roomMembers,
  readPositions,
  messages,
  instances,
  presence,
  messageChanges,
  messageWords,
};
