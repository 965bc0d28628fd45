// The embedded store: Drizzle on bun:sqlite, WAL mode, every query prepared once.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { and, asc, count, desc, eq, gt, inArray, lt, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrations } from "../../../drizzle/sqlite/index.ts";
import { applyMigrations, latestMigrationMillis } from "../migrations.ts";
import {
  ConflictError,
  MissingReferenceError,
  resolveImportRef,
  type HistoryQuery,
  type ImportResult,
  type NewMessage,
  type Store,
  type StoredMessage,
  type UserRecord,
} from "../store.ts";
import { renderPage, type PageRow } from "../page-json.ts";
import { messages, rooms, schema, users } from "./schema.ts";

const p = sql.placeholder;

export class SqliteInUseError extends Error {
  constructor(readonly path: string) {
    super(`${path} is in use by another chat server; SQLite serves one instance (use PostgreSQL for several)`);
    this.name = "SqliteInUseError";
  }
}

/** `path` is a file path or ":memory:". */
export function openSqliteStore(path: string, options: { migrate?: boolean } = {}): Store {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Database(path, { create: true, strict: true });
  // One server per SQLite file: the first holds an exclusive lock until it closes, so a second one (or a
  // `migrate` while it runs) is refused at once instead of splitting the chat in two. WAL is entered in normal
  // locking mode first, so that close() can hand the lock back.
  try {
    sqlite.run("PRAGMA journal_mode = WAL");
    sqlite.run("PRAGMA locking_mode = EXCLUSIVE");
    sqlite.run("BEGIN EXCLUSIVE");
    sqlite.run("COMMIT");
  } catch (error) {
    sqlite.close();
    if (/locked|busy/i.test(String(error))) throw new SqliteInUseError(path);
    throw error;
  }
  sqlite.run("PRAGMA synchronous = NORMAL");
  // Checkpoint every 2,000 WAL pages (8 MB) instead of 1,000: a page rewritten by several commits is copied back
  // once, and the two fsyncs of a checkpoint come half as often. Measured (random rooms and client_ids, batches of
  // 128): 49 -> 38 us per stored message; the commit that runs the checkpoint stalls about as long (max 39 -> 34 ms).
  sqlite.run("PRAGMA wal_autocheckpoint = 2000");
  sqlite.run("PRAGMA foreign_keys = ON");
  const db = drizzle(sqlite, { schema });
  if (options.migrate !== false) applyMigrations(db, migrations);

  const userById = db.select().from(users).where(eq(users.id, p("id"))).prepare();
  const userByName = db.select().from(users).where(eq(users.username, p("username"))).prepare();
  const userByEmail = db.select().from(users).where(eq(users.email, p("email"))).prepare();
  const userCount = db.select({ n: count() }).from(users).prepare();
  const anyAdmin = db.select({ id: users.id }).from(users).where(eq(users.role, "admin")).limit(1).prepare();
  const roomById = db.select().from(rooms).where(eq(rooms.id, p("id"))).prepare();
  const messageById = db.select().from(messages).where(eq(messages.id, p("id"))).prepare();
  const messageByClientId = db
    .select()
    .from(messages)
    .where(and(eq(messages.userId, p("userId")), eq(messages.clientId, p("clientId"))))
    .prepare();
  // The hot insert, on bun:sqlite directly: only the id comes back, the rest of the record is the input (Drizzle's
  // prepared insert mapped every row and built a transaction object per batch: 6 % of the server under load).
  const insertRow = sqlite.query<{ id: number }, [number, number, string, string | null, number]>(
    `INSERT INTO messages (room_id, user_id, content, client_id, created_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (user_id, client_id) DO NOTHING RETURNING id`,
  );
  const insertOne = (m: NewMessage) => insertRow.get(m.roomId, m.userId, m.content, m.clientId, m.createdAt.getTime())?.id;
  const insertBatch = sqlite.transaction((batch: readonly NewMessage[]) =>
    batch.map((m): StoredMessage => {
      const id = insertOne(m);
      if (id !== undefined) return { record: { ...m, id, editedAt: null }, duplicate: false };
      // (userId, clientId) was stored before: a resend. Return the original.
      return { record: messageByClientId.get({ userId: m.userId, clientId: m.clientId })!, duplicate: true };
    }),
  );

  const withAuthor = { message: messages, author: users };
  const page = () =>
    db.select(withAuthor).from(messages).innerJoin(users, eq(users.id, messages.userId));
  const historyBefore = page()
    .where(and(eq(messages.roomId, p("roomId")), lt(messages.id, p("cursor"))))
    .orderBy(desc(messages.id))
    .limit(p("limit"))
    .prepare();
  const historyAfter = page()
    .where(and(eq(messages.roomId, p("roomId")), gt(messages.id, p("cursor"))))
    .orderBy(asc(messages.id))
    .limit(p("limit"))
    .prepare();
  const historySkip = page()
    .where(eq(messages.roomId, p("roomId")))
    .orderBy(desc(messages.id))
    .limit(p("limit"))
    .offset(p("skip"))
    .prepare();

  // The hot history read: positional rows straight from bun:sqlite, rendered by page-json.ts (measured: a third
  // of the cost of the mapped query, and less than a fifth of rendering the JSON inside SQLite).
  const pageRows = (where: string, order: string, offset = "") =>
    sqlite.query<PageRow, Record<string, number>>(
      `SELECT m.id, m.content, m.created_at, m.user_id, m.room_id, m.client_id, m.edited_at,
              u.username, u.email, u.role, u.created_at
       FROM messages m JOIN users u ON u.id = m.user_id
       WHERE ${where} ORDER BY m.id ${order} LIMIT $limit ${offset}`,
    );
  const jsonBefore = pageRows("m.room_id = $roomId AND m.id < $cursor", "DESC");
  const jsonAfter = pageRows("m.room_id = $roomId AND m.id > $cursor", "ASC");
  const jsonSkip = pageRows("m.room_id = $roomId", "DESC", "OFFSET $skip");

  return {
    dialect: "sqlite",

    async countUsers() {
      return userCount.get()?.n ?? 0;
    },
    async hasAdmin() {
      return anyAdmin.get() !== undefined;
    },
    async createUser(user) {
      try {
        return db.insert(users).values(user).returning().get() as UserRecord;
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async findUserById(id) {
      return userById.get({ id }) as UserRecord | undefined;
    },
    async findUserByUsername(username) {
      return userByName.get({ username }) as UserRecord | undefined;
    },
    async findUserByEmail(email) {
      return userByEmail.get({ email }) as UserRecord | undefined;
    },
    async listUsers() {
      return db.select().from(users).orderBy(asc(users.id)).all() as UserRecord[];
    },
    async setUserRole(id, role) {
      return db
        .update(users)
        .set({ role, tokenVersion: sql`${users.tokenVersion} + 1` })
        .where(eq(users.id, id))
        .returning()
        .get() as UserRecord | undefined;
    },
    async bumpTokenVersion(id) {
      return db
        .update(users)
        .set({ tokenVersion: sql`${users.tokenVersion} + 1` })
        .where(eq(users.id, id))
        .returning()
        .get() as UserRecord | undefined;
    },
    async deleteUser(id) {
      return db.delete(users).where(eq(users.id, id)).returning({ id: users.id }).all().length > 0;
    },

    async createRoom(room) {
      try {
        return db.insert(rooms).values(room).returning().get();
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async listRooms() {
      return db.select().from(rooms).orderBy(asc(rooms.id)).all();
    },
    async findRoom(id) {
      return roomById.get({ id });
    },
    async deleteRoom(id) {
      return db.delete(rooms).where(eq(rooms.id, id)).returning({ id: rooms.id }).all().length > 0;
    },

    async insertMessages(batch: readonly NewMessage[]) {
      try {
        return insertBatch(batch);
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async listMessages(roomId, query: HistoryQuery) {
      const [kind, params] = pageParams(roomId, query);
      const rows = { before: historyBefore, after: historyAfter, skip: historySkip }[kind].all(params);
      return rows.map(({ message, author }) => ({ ...message, author: author as UserRecord }));
    },
    async listMessagesJson(roomId, query: HistoryQuery) {
      const [kind, params] = pageParams(roomId, query);
      const rows = { before: jsonBefore, after: jsonAfter, skip: jsonSkip }[kind].values(params) as PageRow[];
      return { json: renderPage(rows), count: rows.length };
    },
    async findMessage(id) {
      return messageById.get({ id });
    },
    async findMessagesByIds(ids) {
      if (ids.length === 0) return [];
      const rows = page().where(inArray(messages.id, [...ids])).orderBy(asc(messages.id)).all();
      return rows.map(({ message, author }) => ({ ...message, author: author as UserRecord }));
    },
    async updateMessage(id, content, editedAt) {
      return db.update(messages).set({ content, editedAt }).where(eq(messages.id, id)).returning().get();
    },
    async deleteMessage(id) {
      return db.delete(messages).where(eq(messages.id, id)).returning({ id: messages.id }).all().length > 0;
    },
    async importRecords(batch, options = {}) {
      try {
        // IMMEDIATE takes the write lock up front: a long import never fails half way on a lock upgrade.
        return db.transaction(
          () => {
            const userIds = batch.users.map((u) => db.insert(users).values(u).returning({ id: users.id }).get().id);
            const roomIds = batch.rooms.map((r) => db.insert(rooms).values(r).returning({ id: rooms.id }).get().id);
            let messagesStored = 0;
            batch.messages.forEach((m, i) => {
              const roomId = resolveImportRef(m.room, roomIds);
              const userId = resolveImportRef(m.user, userIds);
              if (insertOne({ roomId, userId, content: m.content, clientId: m.clientId, createdAt: m.createdAt }) !== undefined) {
                messagesStored++;
              }
              if ((i + 1) % 5000 === 0) options.onProgress?.(i + 1);
            });
            const result = { userIds, roomIds, messagesStored };
            if (options.dryRun) throw new DryRunDone(result);
            return result;
          },
          { behavior: "immediate" },
        );
      } catch (error) {
        if (error instanceof DryRunDone) return error.result;
        throw mapConstraint(error);
      }
    },

    async ping() {
      sqlite.query("SELECT 1").get();
    },
    async migrationsApplied() {
      const table = sqlite.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'").get();
      if (!table) return false;
      const row = sqlite.query("SELECT max(created_at) AS at FROM __drizzle_migrations").get() as { at: number | null };
      return Number(row.at ?? 0) >= latestMigrationMillis(migrations);
    },
    async close() {
      // close(true) finalizes our prepared statements; without it the handle, and the file lock, outlive close().
      sqlite.close(true);
    },
  };
}

/** Thrown to roll a dry run back, carrying what it would have done. */
class DryRunDone {
  constructor(readonly result: ImportResult) {}
}

/** Which of the three page statements a query takes, and its parameters. */
function pageParams(roomId: number, query: HistoryQuery): ["before" | "after" | "skip", Record<string, number>] {
  if ("before" in query) return ["before", { roomId, cursor: query.before, limit: query.limit }];
  if ("after" in query) return ["after", { roomId, cursor: query.after, limit: query.limit }];
  return ["skip", { roomId, limit: query.limit, skip: query.skip }];
}

function mapConstraint(error: unknown): unknown {
  const message = error instanceof Error ? error.message : "";
  if (message.includes("FOREIGN KEY constraint failed")) return new MissingReferenceError();
  const unique = /UNIQUE constraint failed: (\w+)\.(\w+)/.exec(message);
  if (unique) {
    const column = unique[2];
    if (column === "username" || column === "email" || column === "name") return new ConflictError(column);
  }
  return error;
}
