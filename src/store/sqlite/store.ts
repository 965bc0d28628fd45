// The embedded store: Drizzle on bun:sqlite, WAL mode, every query prepared once.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { and, asc, count, desc, eq, gt, inArray, lt, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrations } from "../../../drizzle/sqlite/index.ts";
import { applyMigrations, latestMigrationMillis } from "../migrations.ts";
import {
  accountAfter,
  ConflictError,
  isRoleOnly,
  LastAdminError,
  leavesNoAdmin,
  MissingReferenceError,
  resolveImportRef,
  type AccountChange,
  type HistoryQuery,
  type MessageRecord,
  type ImportResult,
  type MemberRecord,
  type MemberRole,
  type NewMessage,
  type NewRoom,
  type NewRefreshToken,
  type NewUser,
  type RoomActivity,
  type RoomListing,
  type RoomRecord,
  LAST_MESSAGE_CHARS,
  UNREAD_CAP,
  type SearchHit,
  type SearchQuery,
  type Store,
  type StoredMessage,
  type UserRecord,
} from "../store.ts";
import { renderPage, pageRowToMessage, type PageRow } from "../page-json.ts";
import { messages, readPositions, refreshTokens, roomMembers, rooms, schema, users } from "./schema.ts";
import { sqliteSearchWorker } from "../../workers.ts";
import { indexerThread } from "../../search/indexer-thread.ts";
import { createResendWindow } from "./resend-window.ts";
import { createRoomPurger } from "./room-purge.ts";
import { BUSY_TIMEOUT_MS, createSearchIndexer, rewriteWords, WAL_CHECKPOINT_PAGES } from "./search-index.ts";

const p = sql.placeholder;

export class SqliteInUseError extends Error {
  constructor(readonly path: string) {
    super(`${path} is in use by another chat server; SQLite serves one instance (use PostgreSQL for several)`);
    this.name = "SqliteInUseError";
  }
}

/** `path` is a file path or ":memory:". */
export function openSqliteStore(path: string, options: { migrate?: boolean; resendWindow?: number } = {}): Store {
  const memory = path === ":memory:";
  if (!memory) mkdirSync(dirname(path), { recursive: true });
  const lock = memory ? undefined : holdLock(path);
  const sqlite = new Database(path, { create: true, strict: true });
  sqlite.run("PRAGMA journal_mode = WAL");
  // The search indexer writes through a connection of its own (search-index.ts), a chunk at a time.
  sqlite.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  sqlite.run("PRAGMA synchronous = NORMAL");
  // The search indexer's connection checkpoints after its chunks (search-index.ts), on its own thread: here they
  // cost the store's writes 15-30 % more CPU (its pages are in the WAL too). This one checkpoints only when the WAL
  // grows past 4 times that, which happens if the indexer does not run: writes that are not messages.
  sqlite.run(`PRAGMA wal_autocheckpoint = ${4 * WAL_CHECKPOINT_PAGES}`);
  sqlite.run("PRAGMA foreign_keys = ON");
  const db = drizzle(sqlite, { schema });
  if (options.migrate !== false) applyMigrations(db, migrations);

  const userById = db.select().from(users).where(eq(users.id, p("id"))).prepare();
  const notDeleted = sql`${users.status} <> 'deleted'`;
  // Ignoring case (the lower() indexes), the exact spelling first: case twins from before each find their own.
  const userByName = db
    .select()
    .from(users)
    .where(and(sql`lower(${users.username}) = lower(${p("username")})`, notDeleted))
    .orderBy(sql`${users.username} = ${p("username")} DESC`, asc(users.id))
    .limit(1)
    .prepare();
  const userByEmail = db
    .select()
    .from(users)
    .where(and(sql`lower(${users.email}) = lower(${p("email")})`, notDeleted))
    .orderBy(sql`${users.email} = ${p("email")} DESC`, asc(users.id))
    .limit(1)
    .prepare();
  const userCount = db.select({ n: count() }).from(users).prepare();
  const otherAdmin = db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, "admin"), eq(users.status, "active"), sql`${users.id} <> ${p("id")}`))
    .limit(1)
    .prepare();
  const insertUser = (user: NewUser) => db.insert(users).values(user).returning().get() as UserRecord;
  // bun:sqlite transactions are synchronous: nothing else runs between the check and the write.
  const insertIfNoAdmin = sqlite.transaction((user: NewUser) => (otherAdmin.get({ id: 0 }) ? undefined : insertUser(user)));
  const changeAccount = sqlite.transaction((id: number, change: AccountChange) => {
    const user = userById.get({ id }) as UserRecord | undefined;
    if (!user || user.status === "deleted") return undefined;
    const next = accountAfter(user, change);
    if (leavesNoAdmin(user, next) && !otherAdmin.get({ id })) throw new LastAdminError();
    const updated = db
      .update(users)
      .set({ ...next, tokenVersion: sql`${users.tokenVersion} + 1` })
      .where(eq(users.id, id))
      .returning()
      .get() as UserRecord;
    if (!isRoleOnly(change)) db.update(refreshTokens).set({ expiresAt: new Date(0) }).where(eq(refreshTokens.userId, id)).run();
    return updated;
  });
  const refreshByHash = db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, p("hash"))).prepare();
  const insertRefresh = (token: NewRefreshToken) => {
    db.delete(refreshTokens).where(and(eq(refreshTokens.userId, token.userId), lt(refreshTokens.expiresAt, token.createdAt))).run();
    db.insert(refreshTokens).values({ tokenHash: token.hash, familyId: token.familyId, userId: token.userId, createdAt: token.createdAt, expiresAt: token.expiresAt }).run();
  };
  const insertRefreshTx = sqlite.transaction(insertRefresh);
  const rotateRefresh = sqlite.transaction((hash: string, next: NewRefreshToken, at: Date) => {
    const spent = db
      .update(refreshTokens)
      .set({ spentAt: at })
      .where(and(eq(refreshTokens.tokenHash, hash), sql`${refreshTokens.spentAt} IS NULL`, gt(refreshTokens.expiresAt, at)))
      .returning({ hash: refreshTokens.tokenHash })
      .get();
    if (spent) insertRefresh(next);
    return spent !== undefined;
  });
  const roomColumns = {
    id: rooms.id,
    name: rooms.name,
    description: rooms.description,
    visibility: rooms.visibility,
    kind: rooms.kind,
    createdAt: rooms.createdAt,
  };
  const roomById = db.select(roomColumns).from(rooms).where(eq(rooms.id, p("id"))).prepare();

  // Members: every change is one synchronous transaction, so nothing runs between its reads and its writes.
  const memberColumns = {
    roomId: roomMembers.roomId,
    userId: roomMembers.userId,
    username: users.username,
    role: roomMembers.role,
    joinedAt: roomMembers.joinedAt,
  };
  const members = () => db.select(memberColumns).from(roomMembers).innerJoin(users, eq(users.id, roomMembers.userId));
  const memberRole = db
    .select({ role: roomMembers.role })
    .from(roomMembers)
    .where(and(eq(roomMembers.roomId, p("roomId")), eq(roomMembers.userId, p("userId"))))
    .prepare();
  const member = members()
    .where(and(eq(roomMembers.roomId, p("roomId")), eq(roomMembers.userId, p("userId"))))
    .prepare();
  const membersOf = members().where(eq(roomMembers.roomId, p("roomId"))).orderBy(asc(roomMembers.joinedAt), asc(roomMembers.userId)).prepare();
  const insertMember = (roomId: number, userId: number, role: MemberRole, joinedAt: Date) =>
    db.insert(roomMembers).values({ roomId, userId, role, joinedAt }).onConflictDoNothing().returning().get() !== undefined;
  const createRoomWithOwner = sqlite.transaction((room: NewRoom): RoomRecord => {
    const { name, description, createdAt, visibility = "public" } = room;
    const created = db.insert(rooms).values({ name, description, createdAt, visibility }).returning(roomColumns).get();
    if (visibility === "private") insertMember(created.id, room.ownerId!, "owner", createdAt);
    return created;
  });
  const openDirect = sqlite.transaction((ids: [number, number], createdAt: Date) => {
    const directKey = [...ids].sort((a, b) => a - b).join(":");
    const existing = db.select(roomColumns).from(rooms).where(eq(rooms.directKey, directKey)).get();
    if (existing) return { room: existing, created: false };
    const room = db
      .insert(rooms)
      .values({ name: "", description: null, visibility: "private", kind: "direct", directKey, createdAt })
      .returning(roomColumns)
      .get();
    for (const userId of ids) insertMember(room.id, userId, "member", createdAt);
    return { room, created: true };
  });
  const addMemberOnce = sqlite.transaction((roomId: number, userId: number, joinedAt: Date) => {
    const created = insertMember(roomId, userId, "member", joinedAt);
    return { member: member.get({ roomId, userId }) as MemberRecord, created };
  });
  const removeMemberTx = sqlite.transaction((roomId: number, userId: number) => {
    const gone = db
      .delete(roomMembers)
      .where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, userId)))
      .returning({ role: roomMembers.role })
      .get();
    if (!gone) return { removed: false, newOwner: null, roomDeleted: false };
    db.delete(readPositions).where(and(eq(readPositions.roomId, roomId), eq(readPositions.userId, userId))).run();
    const left = membersOf.all({ roomId }) as MemberRecord[];
    if (left.length === 0) {
      db.delete(rooms).where(eq(rooms.id, roomId)).run();
      return { removed: true, newOwner: null, roomDeleted: true };
    }
    const room = roomById.get({ id: roomId });
    if (room?.kind !== "room" || left.some((m) => m.role === "owner")) return { removed: true, newOwner: null, roomDeleted: false };
    const heir = left[0]!;
    db.update(roomMembers)
      .set({ role: "owner" })
      .where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, heir.userId)))
      .run();
    return { removed: true, newOwner: { ...heir, role: "owner" as const }, roomDeleted: false };
  });
  // Read positions and unread counts: each a range of the (room_id, id) index.
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
  const newestMessage = sqlite.query<{ id: number; user_id: number; username: string; content: string; created_at: number }, { room: number }>(
    `SELECT m.id, m.user_id, u.username, substr(m.content, 1, ${LAST_MESSAGE_CHARS}) AS content, m.created_at
     FROM messages m JOIN users u ON u.id = m.user_id WHERE m.room_id = $room ORDER BY m.id DESC LIMIT 1`,
  );

  const listingRows = sqlite.query<
    {
      id: number;
      name: string;
      description: string | null;
      visibility: "public" | "private";
      kind: "room" | "direct";
      created_at: number;
      member_count: number | null;
      reader_role: MemberRole | null;
    },
    { reader: number; all: number; room: number | null }
  >(
    `SELECT * FROM (
       SELECT r.id, r.name, r.description, r.visibility, r.kind, r.created_at,
              CASE WHEN r.visibility = 'public' THEN NULL ELSE (SELECT count(*) FROM room_members m WHERE m.room_id = r.id) END AS member_count,
              (SELECT role FROM room_members m WHERE m.room_id = r.id AND m.user_id = $reader) AS reader_role
       FROM rooms r
       WHERE ($room IS NULL OR r.id = $room))
     WHERE $all OR visibility = 'public' OR reader_role IS NOT NULL
     ORDER BY id`,
  );
  const directPeopleRows = sqlite.query<{ room_id: number; id: number; username: string }, { rooms: string }>(
    `SELECT m.room_id, u.id, u.username FROM room_members m JOIN users u ON u.id = m.user_id
     WHERE m.room_id IN (SELECT value FROM json_each($rooms)) ORDER BY m.room_id, u.id`,
  );
  // A deleted room's messages are gone for readers at once, while room-purge.ts deletes them a chunk at a time:
  // every read of messages goes through their room's row.
  const roomExists = sql`exists (select 1 from ${rooms} where ${rooms.id} = ${messages.roomId})`;
  const messageById = db.select().from(messages).where(and(eq(messages.id, p("id")), roomExists)).prepare();
  const resends = createResendWindow(sqlite, options.resendWindow);
  // The hot insert, on bun:sqlite directly: only the id comes back, the rest of the record is the input (Drizzle's
  // prepared insert mapped every row and built a transaction object per batch: 6 % of the server under load).
  const insertRow = sqlite.query<{ id: number }, [number, number, string, string | null, number]>(
    "INSERT INTO messages (room_id, user_id, content, client_id, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
  );
  /** Inside a transaction: the new message's id, or the original's when its (room, user, client id) is a resend. */
  const insertOne = (m: NewMessage): { id: number; duplicate: boolean } => {
    const original = m.clientId === null ? undefined : resends.find(m.roomId, m.userId, m.clientId);
    if (original !== undefined) return { id: original, duplicate: true };
    const id = insertRow.get(m.roomId, m.userId, m.content, m.clientId, m.createdAt.getTime())!.id;
    resends.stage(m.roomId, m.userId, m.clientId, id);
    return { id, duplicate: false };
  };
  /** A write transaction that stages resend keys: they join the window once it commits. */
  const withResends = <A extends unknown[], R>(run: (...args: A) => R) => (...args: A): R => {
    try {
      const result = run(...args);
      resends.commit();
      return result;
    } catch (error) {
      resends.rollback();
      throw error;
    }
  };
  const insertBatch = withResends(sqlite.transaction((batch: readonly NewMessage[]) =>
    batch.map((m): StoredMessage => {
      const { id, duplicate } = insertOne(m);
      if (!duplicate) return { record: { ...m, id, editedAt: null }, duplicate: false };
      // (roomId, userId, clientId) was stored before: a resend. Return the original.
      return { record: messageById.get({ id })!, duplicate: true };
    }),
  ));

  // Off the thread that answers sockets (folding words and FTS5 cost more than the message's INSERT); an
  // in-memory database has no other connection, so its indexer runs here.
  const search = memory ? createSearchIndexer(sqlite) : indexerThread(sqliteSearchWorker, { path });
  // The indexer's thread checkpoints the purge's writes (search-index.ts).
  const purges = createRoomPurger(sqlite, { afterStep: () => search.soon() });
  const rewrite = rewriteWords(sqlite);
  const editMessage = sqlite.transaction((id: number, content: string, editedAt: Date) => {
    const changed = db.update(messages).set({ content, editedAt }).where(and(eq(messages.id, id), roomExists)).returning().get();
    if (changed) rewrite(id, content);
    return changed;
  });

  const withAuthor = { message: messages, author: users };
  const page = () =>
    db.select(withAuthor).from(messages).innerJoin(users, eq(users.id, messages.userId)).innerJoin(rooms, eq(rooms.id, messages.roomId));
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
              u.username, u.role, u.created_at
       FROM messages m JOIN users u ON u.id = m.user_id JOIN rooms r ON r.id = m.room_id
       WHERE ${where} ORDER BY m.id ${order} LIMIT $limit ${offset}`,
    );
  const jsonBefore = pageRows("m.room_id = $roomId AND m.id < $cursor", "DESC");
  const jsonAfter = pageRows("m.room_id = $roomId AND m.id > $cursor", "ASC");
  const jsonSkip = pageRows("m.room_id = $roomId", "DESC", "OFFSET $skip");

  // Search: newest first straight down the FTS5 index's rowids (CROSS JOIN keeps it the outer loop), membership
  // in SQL. Room and author filters are JSON arrays, or null for none.
  const searchRows = sqlite.query<
    unknown,
    { match: string; before: number; reader: number; rooms: string | null; authors: string | null; limit: number }
  >(
    `SELECT m.id, m.content, m.created_at, m.user_id, m.room_id, m.client_id, m.edited_at,
            u.username, u.role, u.created_at,
            CASE WHEN r.kind = 'direct'
                 THEN coalesce((SELECT o.username FROM room_members d JOIN users o ON o.id = d.user_id
                                WHERE d.room_id = r.id AND d.user_id <> $reader LIMIT 1), '(deleted account)')
                 ELSE r.name END
     FROM messages_search s CROSS JOIN messages m CROSS JOIN users u CROSS JOIN rooms r
     WHERE messages_search MATCH $match AND s.rowid < $before
       AND m.id = s.rowid AND u.id = m.user_id AND r.id = m.room_id
       AND (r.visibility = 'public' OR EXISTS (SELECT 1 FROM room_members a WHERE a.room_id = r.id AND a.user_id = $reader))
       AND ($rooms IS NULL OR m.room_id IN (SELECT value FROM json_each($rooms)))
       AND ($authors IS NULL OR m.user_id IN (SELECT value FROM json_each($authors)))
     ORDER BY s.rowid DESC LIMIT $limit`,
  );

  return {
    dialect: "sqlite",

    async countUsers() {
      return userCount.get()?.n ?? 0;
    },
    async hasAdmin() {
      return otherAdmin.get({ id: 0 }) !== undefined;
    },
    async createUser(user) {
      try {
        return insertUser(user);
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async createFirstAdmin(user) {
      try {
        return insertIfNoAdmin(user);
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
      return db.select().from(users).where(notDeleted).orderBy(asc(users.id)).all() as UserRecord[];
    },
    async updateAccount(id, change) {
      return changeAccount(id, change);
    },
    async setUserRole(id, role) {
      return changeAccount(id, { role });
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
    async insertRefreshToken(token) {
      insertRefreshTx(token);
    },
    async findRefreshToken(hash) {
      const row = refreshByHash.get({ hash });
      return row && { hash: row.tokenHash, familyId: row.familyId, userId: row.userId, createdAt: row.createdAt, expiresAt: row.expiresAt, spentAt: row.spentAt };
    },
    async rotateRefreshToken(hash, next, at) {
      return rotateRefresh(hash, next, at);
    },
    async revokeRefreshFamily(familyId) {
      db.update(refreshTokens).set({ expiresAt: new Date(0) }).where(eq(refreshTokens.familyId, familyId)).run();
    },

    async createRoom(room) {
      try {
        return createRoomWithOwner(room);
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async listRooms() {
      return db.select(roomColumns).from(rooms).orderBy(asc(rooms.id)).all();
    },
    async listRoomListings({ readerId, all = false, roomId }) {
      const rows = listingRows.all({ reader: readerId, all: all ? 1 : 0, room: roomId ?? null });
      const direct = rows.filter((r) => r.kind === "direct").map((r) => r.id);
      const people = new Map<number, { id: number; username: string }[]>();
      if (direct.length > 0) {
        for (const { room_id, id, username } of directPeopleRows.all({ rooms: JSON.stringify(direct) })) {
          people.set(room_id, [...(people.get(room_id) ?? []), { id, username }]);
        }
      }
      return rows.map(
        (r): RoomListing => ({
          id: r.id,
          name: r.name,
          description: r.description,
          visibility: r.visibility,
          kind: r.kind,
          createdAt: new Date(r.created_at),
          memberCount: r.member_count,
          readerRole: r.reader_role,
          directPeople: r.kind === "direct" ? (people.get(r.id) ?? []) : null,
        }),
      );
    },
    async openDirectRoom(userIds, createdAt) {
      return openDirect(userIds, createdAt);
    },
    async findMemberRole(roomId, userId) {
      return memberRole.get({ roomId, userId })?.role;
    },
    async listMembers(roomId) {
      return membersOf.all({ roomId }) as MemberRecord[];
    },
    async addMember(roomId, userId, joinedAt) {
      try {
        return addMemberOnce(roomId, userId, joinedAt);
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async removeMember(roomId, userId) {
      return removeMemberTx(roomId, userId);
    },
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
            ? { id: last.id, userId: last.user_id, username: last.username, content: last.content, createdAt: new Date(last.created_at) }
            : null,
        });
      }
      return activity;
    },
    async findRoom(id) {
      return roomById.get({ id });
    },
    async deleteRoom(id) {
      return purges.deleteRoom(id);
    },

    async insertMessages(batch: readonly NewMessage[]) {
      try {
        const stored = insertBatch(batch);
        search.soon();
        return stored;
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
      return editMessage(id, content, editedAt);
    },
    async searchMessages(query) {
      await search.catchUp();
      const rows = searchRows.values({
        match: ftsMatch(query.terms),
        before: query.before ?? 2 ** 31,
        reader: query.readerId,
        rooms: query.roomIds && JSON.stringify(query.roomIds),
        authors: query.authorIds && JSON.stringify(query.authorIds),
        limit: query.limit,
      }) as unknown as [...PageRow, string][];
      return rows.map((row): SearchHit => ({ message: pageRowToMessage(row as unknown as PageRow), roomName: row[10] }));
    },
    async deleteMessage(id) {
      return db.delete(messages).where(and(eq(messages.id, id), roomExists)).returning({ id: messages.id }).all().length > 0;
    },
    async importRecords(batch, options = {}) {
      try {
        // IMMEDIATE takes the write lock up front: a long import never fails half way on a lock upgrade.
        const imported = withResends(() => db.transaction(
          () => {
            const userIds = batch.users.map((u) => db.insert(users).values(u).returning({ id: users.id }).get().id);
            const roomIds = batch.rooms.map((r) => db.insert(rooms).values(r).returning({ id: rooms.id }).get().id);
            let messagesStored = 0;
            batch.messages.forEach((m, i) => {
              const roomId = resolveImportRef(m.room, roomIds);
              const userId = resolveImportRef(m.user, userIds);
              if (!insertOne({ roomId, userId, content: m.content, clientId: m.clientId, createdAt: m.createdAt }).duplicate) {
                messagesStored++;
              }
              if ((i + 1) % 5000 === 0) options.onProgress?.(i + 1);
            });
            const result = { userIds, roomIds, messagesStored };
            if (options.dryRun) throw new DryRunDone(result);
            return result;
          },
          { behavior: "immediate" },
        ))();
        search.soon();
        return imported;
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
      // A room's messages still to purge are left in room_purges for the next start.
      purges.stop();
      await search.stop().catch((error: unknown) => console.error(`search: stopping the indexer failed: ${(error as Error).message}`));
      // close(true) finalizes our prepared statements; without it the handle outlives close().
      sqlite.close(true);
      lock?.close(true);
    },
  };
}

/** FTS5 syntax for the terms: each a quoted string (the words hold letters and digits only), ANDed. */
function ftsMatch(terms: SearchQuery["terms"]): string {
  return terms.map((t) => `"${t.words.join(" ")}"${t.prefix ? "*" : ""}`).join(" ");
}

/**
 * One server per SQLite file: the first holds an exclusive lock on `<path>.lock` (an empty SQLite database of its
 * own) until it closes, so a second one (or a `migrate` while it runs) is refused at once instead of splitting the
 * chat in two. Not on the database itself, which the store's search indexer opens too.
 */
function holdLock(path: string): Database {
  const lock = new Database(`${path}.lock`, { create: true });
  try {
    lock.run("PRAGMA locking_mode = EXCLUSIVE");
    lock.run("BEGIN EXCLUSIVE");
    lock.run("COMMIT");
    return lock;
  } catch (error) {
    lock.close();
    if (/locked|busy/i.test(String(error))) throw new SqliteInUseError(path);
    throw error;
  }
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
  // "UNIQUE constraint failed: users.email" for a column, "...: index 'users_email_lower_key'" for an expression.
  const unique = /UNIQUE constraint failed: (?:\w+\.(\w+)|index '\w+?_(username|email)_lower_key')/.exec(message);
  const column = unique?.[1] ?? unique?.[2];
  if (column === "username" || column === "email" || column === "name") return new ConflictError(column);
  return error;
}
