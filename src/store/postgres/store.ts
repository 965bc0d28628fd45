// The production store: Drizzle on postgres-js. Queries are prepared once (postgres-js names and caches them
// per connection); a message batch is one INSERT over unnest() arrays, whatever its size.
import postgres from "postgres";
import { and, asc, count, desc, eq, gt, inArray, lt, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrations } from "../../../drizzle/postgres/index.ts";
import { applyMigrations, latestMigrationMillis } from "../migrations.ts";
import {
  accountAfter,
  ConflictError,
  isRoleOnly,
  isStoreUnavailable,
  LastAdminError,
  leavesNoAdmin,
  MissingReferenceError,
  resolveImportRef,
  type AccountStatus,
  type HistoryQuery,
  type ImportBatch,
  type ImportResult,
  type MessageRecord,
  type MemberRecord,
  type MemberRemoval,
  type MemberRole,
  type NewMessage,
  type NewRoom,
  type NewRefreshToken,
  type NewUser,
  type RefreshTokenRecord,
  type Role,
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
import { pageRowToMessage, renderPage, type PageRow } from "../page-json.ts";
import { postgresSearchWorker } from "../../workers.ts";
import { indexerThread } from "../../search/indexer-thread.ts";
import { tsvectorLiteral } from "../../search/text.ts";
import { connectPostgres } from "./connect.ts";
import { arrayLiteral, insertWords } from "./search-index.ts";

export { arrayLiteral };
import { messages, rooms, schema, users } from "./schema.ts";

const p = sql.placeholder;
/** Any advisory lock key of ours; held while migrating so that instances starting together take turns. */
const MIGRATION_LOCK = 72_160_001;
/**
 * Seconds before the next connection attempt. postgres-js's default grows to 20 s, and each failed attempt
 * refuses only one waiting query: in a database outage, messages waited that long for any answer, and the
 * server took that long to notice the database was back (measured in test/faults.test.ts).
 */
const reconnectDelay = (retries: number) => Math.min(0.05 * 2 ** retries, 0.5);

/**
 * The longest a message batch may go unanswered (a lock held elsewhere, a connection that postgres-js cannot use
 * again): past this its INSERT is cancelled, the batch refused (its senders get STORE_UNAVAILABLE and resend with
 * their client_id, which stores one that committed anyway only once) and the batch connection replaced.
 */
const BATCH_ANSWER_MS = 5000;
/** How long a stalled batch waits for its answer after its cancel request (which opens a connection of its own). */
const CANCEL_WAIT_MS = 1000;

class BatchStalledError extends Error {
  readonly code = "CONNECTION_STALLED";
  constructor() {
    super(`the message batch had no answer from PostgreSQL in ${BATCH_ANSWER_MS} ms`);
  }
}

export interface PostgresStoreOptions {
  migrate?: boolean;
  poolSize?: number;
  /** Who notifies other instances of stored messages (the fanout bus's instance id). */
  instanceId?: string;
}

/** The NOTIFY channel of every cross-instance event; the fanout bus (src/realtime/bus-postgres.ts) listens on it. */
export const NOTIFY_CHANNEL = "chat_events";
/**
 * Held by every message INSERT until its commit, on every instance: commits, and so notifications, happen in id
 * order, which lets each instance deliver every room's messages in id order.
 */
const INSERT_LOCK = 72_160_002;
/** Held by whatever decides on "is there another admin" and then writes: admin signup and role changes. */
const ADMIN_LOCK = 72_160_003;

export async function migratePostgres(url: string): Promise<void> {
  const client = connectPostgres(url, { max: 1 });
  try {
    await client`SELECT pg_advisory_lock(${MIGRATION_LOCK})`;
    await applyMigrations(drizzle(client), migrations);
    await indexBacklog(client);
  } finally {
    await client.end();
  }
}

export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<Store> {
  if (options.migrate !== false) await migratePostgres(url);
  const client = connectPostgres(url, { backoff: reconnectDelay, max: options.poolSize ?? 10 });
  // Message batches go through one connection of their own: postgres-js pipelines concurrent batches on it, so
  // they commit, and take their ids, in the order the writer sent them.
  const newBatchClient = () => connectPostgres(url, { backoff: reconnectDelay, max: 1 });
  let batchClient = newBatchClient();
  let closing = false;
  /**
   * A lost or stalled batch connection is never used again: it is replaced, and the old client ended at once (the
   * batches it still holds are refused; their senders get STORE_UNAVAILABLE). postgres-js 3.4.9 reconnects the
   * same connection object, and has been seen to leave one that never writes again (a cleared write timer left
   * set: patched in patches/postgres@3.4.9.patch) or a query that is never answered (BATCH_ANSWER_MS).
   */
  function replaceBatchClient(failed: postgres.Sql): void {
    if (closing || batchClient !== failed) return;
    batchClient = newBatchClient();
    void failed.end({ timeout: 0 }).catch(() => {});
  }
  const db = drizzle(client, { schema });

  const userById = db.select().from(users).where(eq(users.id, p("id"))).prepare("user_by_id");
  const notDeleted = sql`${users.status} <> 'deleted'`;
  // Ignoring case (the lower() indexes), the exact spelling first: case twins from before each find their own.
  const userByName = db
    .select()
    .from(users)
    .where(and(sql`lower(${users.username}) = lower(${p("username")})`, notDeleted))
    .orderBy(sql`${users.username} = ${p("username")} DESC`, asc(users.id))
    .limit(1)
    .prepare("user_by_name");
  const userByEmail = db
    .select()
    .from(users)
    .where(and(sql`lower(${users.email}) = lower(${p("email")})`, notDeleted))
    .orderBy(sql`${users.email} = ${p("email")} DESC`, asc(users.id))
    .limit(1)
    .prepare("user_by_email");

  /**
   * Runs `write` in a transaction holding ADMIN_LOCK, given whether an active admin other than `id` exists: under READ
   * COMMITTED each statement after the lock sees every commit made before it, so two such writes cannot both rely
   * on the other's admin.
   */
  const withAdminLock = <T>(id: number, write: (tx: postgres.TransactionSql, otherAdmin: boolean) => Promise<T>) =>
    client.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${ADMIN_LOCK})`;
      const [other] = await tx`SELECT 1 FROM users WHERE role = 'admin' AND status = 'active' AND id <> ${id} LIMIT 1`;
      return write(tx, other !== undefined);
    }) as Promise<T>;
  const userCount = db.select({ n: count() }).from(users).prepare("user_count");
  const roomColumns = {
    id: rooms.id,
    name: rooms.name,
    description: rooms.description,
    visibility: rooms.visibility,
    kind: rooms.kind,
    createdAt: rooms.createdAt,
  };
  const roomById = db.select(roomColumns).from(rooms).where(eq(rooms.id, p("id"))).prepare("room_by_id");
  const messageColumns = {
    id: messages.id,
    roomId: messages.roomId,
    userId: messages.userId,
    content: messages.content,
    clientId: messages.clientId,
    createdAt: messages.createdAt,
    editedAt: messages.editedAt,
  };
  const messageById = db.select(messageColumns).from(messages).where(eq(messages.id, p("id"))).prepare("message_by_id");

  const withAuthor = { message: messageColumns, author: users };
  const page = () => db.select(withAuthor).from(messages).innerJoin(users, eq(users.id, messages.userId));
  const historyBefore = page()
    .where(and(eq(messages.roomId, p("roomId")), lt(messages.id, p("cursor"))))
    .orderBy(desc(messages.id))
    .limit(p("limit"))
    .prepare("history_before");
  const historyAfter = page()
    .where(and(eq(messages.roomId, p("roomId")), gt(messages.id, p("cursor"))))
    .orderBy(asc(messages.id))
    .limit(p("limit"))
    .prepare("history_after");
  const historySkip = page()
    .where(eq(messages.roomId, p("roomId")))
    .orderBy(desc(messages.id))
    .limit(p("limit"))
    .offset(p("skip"))
    .prepare("history_skip");

  const first = <T>(rows: T[]): T | undefined => rows[0];
  const search = indexerThread(postgresSearchWorker, { url });

  // The hot history read: three constant statements (prepared once per connection), positional rows with times
  // as epoch milliseconds, rendered by page-json.ts. (Rendering the JSON in PostgreSQL cost more Bun CPU per page
  // than this: 116-204 us against the figures in docs/benchmarks.md.)
  const ms = (column: string) => `round(extract(epoch FROM ${column}) * 1000)::float8`;
  const pageSql = (where: string, order: string, offset: string) =>
    `SELECT m.id, m.content, ${ms("m.created_at")}, m.user_id, m.room_id, m.client_id, ${ms("m.edited_at")},
            u.username, u.role, ${ms("u.created_at")}
     FROM messages m JOIN users u ON u.id = m.user_id
     WHERE ${where} ORDER BY m.id ${order} LIMIT $3 ${offset}`;
  const pageStatements = {
    before: pageSql("m.room_id = $1 AND m.id < $2", "DESC", ""),
    after: pageSql("m.room_id = $1 AND m.id > $2", "ASC", ""),
    skip: pageSql("m.room_id = $1", "DESC", "OFFSET $2"),
  };

  return retryReads({
    dialect: "postgres",

    async countUsers() {
      return first(await userCount.execute())?.n ?? 0;
    },
    async hasAdmin() {
      return (await client`SELECT 1 FROM users WHERE role = 'admin' AND status = 'active' LIMIT 1`).length > 0;
    },
    async createUser(user) {
      try {
        return first(await db.insert(users).values(user).returning()) as UserRecord;
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async createFirstAdmin(user) {
      try {
        return await withAdminLock(0, async (tx, adminExists) => (adminExists ? undefined : insertUser(tx, user)));
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async findUserById(id) {
      return first(await userById.execute({ id })) as UserRecord | undefined;
    },
    async findUserByUsername(username) {
      return first(await userByName.execute({ username })) as UserRecord | undefined;
    },
    async findUserByEmail(email) {
      return first(await userByEmail.execute({ email })) as UserRecord | undefined;
    },
    async listUsers() {
      return (await db.select().from(users).where(notDeleted).orderBy(asc(users.id))) as UserRecord[];
    },
    async updateAccount(id, change) {
      return withAdminLock(id, async (tx, otherAdmin) => {
        const [row] = await tx<UserRow[]>`SELECT ${tx.unsafe(USER_COLUMNS)} FROM users WHERE id = ${id} AND status <> 'deleted' FOR UPDATE`;
        if (!row) return undefined;
        const user = toUser(row);
        const next = accountAfter(user, change);
        if (leavesNoAdmin(user, next) && !otherAdmin) throw new LastAdminError();
        const twin = next.status === "deleted" ? id : row.username_twin;
        const [updated] = await tx<UserRow[]>`
          UPDATE users SET username = ${next.username}, username_twin = ${twin}, email = ${next.email}, hashed_password = ${next.passwordHash},
                           role = ${next.role}, status = ${next.status}, token_version = token_version + 1
          WHERE id = ${id} RETURNING ${tx.unsafe(USER_COLUMNS)}`;
        if (!isRoleOnly(change)) await tx`UPDATE refresh_tokens SET expires_at = to_timestamp(0) WHERE user_id = ${id}`;
        return toUser(updated!);
      });
    },
    async setUserRole(id, role) {
      return this.updateAccount(id, { role });
    },
    async bumpTokenVersion(id) {
      const rows = await db
        .update(users)
        .set({ tokenVersion: sql`${users.tokenVersion} + 1` })
        .where(eq(users.id, id))
        .returning();
      return first(rows) as UserRecord | undefined;
    },
    async deleteUser(id) {
      return deleteWithMessages(client, "users", "user_id", id);
    },
    async insertRefreshToken(token) {
      await client.begin((tx) => insertRefresh(tx, token));
    },
    async findRefreshToken(hash) {
      const [row] = await client<RefreshRow[]>`SELECT ${client.unsafe(REFRESH_COLUMNS)} FROM refresh_tokens WHERE token_hash = ${hash}`;
      return row && toRefresh(row);
    },
    async rotateRefreshToken(hash, next, at) {
      return client.begin(async (tx) => {
        // Of concurrent refreshes with one token, the row lock lets one UPDATE through; the others then see it spent.
        const spent = await tx`
          UPDATE refresh_tokens SET spent_at = to_timestamp(${at.getTime()} / 1000.0)
          WHERE token_hash = ${hash} AND spent_at IS NULL AND expires_at > to_timestamp(${at.getTime()} / 1000.0)
          RETURNING token_hash`;
        if (spent.length > 0) await insertRefresh(tx, next);
        return spent.length > 0;
      }) as Promise<boolean>;
    },
    async revokeRefreshFamily(familyId) {
      await client`UPDATE refresh_tokens SET expires_at = to_timestamp(0) WHERE family_id = ${familyId}`;
    },

    async createRoom(room) {
      try {
        return await client.begin((tx) => createRoomWithOwner(tx, room));
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async listRooms() {
      return db.select(roomColumns).from(rooms).orderBy(asc(rooms.id));
    },
    async listRoomListings({ readerId, all = false, roomId }) {
      const rows = await client<(RoomRow & { member_count: number | null; reader_role: MemberRole | null })[]>`
        SELECT * FROM (
          SELECT ${client.unsafe(ROOM_COLUMNS("r"))},
                 CASE WHEN r.visibility = 'public' THEN NULL
                      ELSE (SELECT count(*) FROM room_members m WHERE m.room_id = r.id)::int END AS member_count,
                 (SELECT role FROM room_members m WHERE m.room_id = r.id AND m.user_id = ${readerId}) AS reader_role
          FROM rooms r
          WHERE (${roomId ?? null}::int IS NULL OR r.id = ${roomId ?? null}::int)) listed
        WHERE ${all} OR visibility = 'public' OR reader_role IS NOT NULL
        ORDER BY id`;
      const direct = rows.filter((r) => r.kind === "direct").map((r) => r.id);
      const people = new Map<number, { id: number; username: string }[]>();
      if (direct.length > 0) {
        const found = await client<{ room_id: number; id: number; username: string }[]>`
          SELECT m.room_id, u.id, u.username FROM room_members m JOIN users u ON u.id = m.user_id
          WHERE m.room_id = ANY(${arrayLiteral(direct)}::int[]) ORDER BY m.room_id, u.id`;
        for (const { room_id, id, username } of found) people.set(room_id, [...(people.get(room_id) ?? []), { id, username }]);
      }
      return rows.map(
        (r): RoomListing => ({
          ...toRoom(r),
          memberCount: r.member_count,
          readerRole: r.reader_role,
          directPeople: r.kind === "direct" ? (people.get(r.id) ?? []) : null,
        }),
      );
    },
    async openDirectRoom(userIds, createdAt) {
      const directKey = [...userIds].sort((a, b) => a - b).join(":");
      return client.begin(async (tx) => {
        // A concurrent call's INSERT waits for this one's commit, then finds the key taken and reads this room.
        const [made] = await tx<RoomRow[]>`
          INSERT INTO rooms (name, description, visibility, kind, direct_key, created_at)
          VALUES ('', NULL, 'private', 'direct', ${directKey}, to_timestamp(${createdAt.getTime()} / 1000.0))
          ON CONFLICT (direct_key) DO NOTHING
          RETURNING ${tx.unsafe(ROOM_COLUMNS("rooms"))}`;
        if (made) {
          for (const userId of userIds) {
            await tx`INSERT INTO room_members (room_id, user_id, role, joined_at)
                     VALUES (${made.id}, ${userId}, 'member', to_timestamp(${createdAt.getTime()} / 1000.0))`;
          }
          return { room: toRoom(made), created: true };
        }
        const [found] = await tx<RoomRow[]>`SELECT ${tx.unsafe(ROOM_COLUMNS("rooms"))} FROM rooms WHERE direct_key = ${directKey}`;
        return { room: toRoom(found!), created: false };
      }) as Promise<{ room: RoomRecord; created: boolean }>;
    },
    async findMemberRole(roomId, userId) {
      const [row] = await client<{ role: "owner" | "member" }[]>`SELECT role FROM room_members WHERE room_id = ${roomId} AND user_id = ${userId}`;
      return row?.role;
    },
    async listMembers(roomId) {
      return (await client<MemberRow[]>`
        SELECT ${client.unsafe(MEMBER_COLUMNS)} FROM room_members m JOIN users u ON u.id = m.user_id
        WHERE m.room_id = ${roomId} ORDER BY m.joined_at, m.user_id`).map(toMember);
    },
    async addMember(roomId, userId, joinedAt) {
      try {
        const inserted = await client`
          INSERT INTO room_members (room_id, user_id, role, joined_at)
          VALUES (${roomId}, ${userId}, 'member', to_timestamp(${joinedAt.getTime()} / 1000.0))
          ON CONFLICT DO NOTHING RETURNING user_id`;
        const [row] = await client<MemberRow[]>`
          SELECT ${client.unsafe(MEMBER_COLUMNS)} FROM room_members m JOIN users u ON u.id = m.user_id
          WHERE m.room_id = ${roomId} AND m.user_id = ${userId}`;
        if (!row) throw new MissingReferenceError();
        return { member: toMember(row), created: inserted.length > 0 };
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async setReadPosition(userId, roomId, messageId, at) {
      const [moved] = await client<{ message_id: number }[]>`
        INSERT INTO read_positions (user_id, room_id, message_id, updated_at)
        SELECT ${userId}, ${roomId}, least(${messageId}::int, newest), to_timestamp(${at.getTime()} / 1000.0)
        FROM (SELECT max(id) AS newest FROM messages WHERE room_id = ${roomId}) m WHERE newest IS NOT NULL
        ON CONFLICT (user_id, room_id) DO UPDATE SET message_id = excluded.message_id, updated_at = excluded.updated_at
          WHERE excluded.message_id > read_positions.message_id
        RETURNING message_id`;
      if (moved) return { position: moved.message_id, moved: true };
      const [row] = await client<{ message_id: number }[]>`SELECT message_id FROM read_positions WHERE user_id = ${userId} AND room_id = ${roomId}`;
      return { position: row?.message_id ?? null, moved: false };
    },
    async roomActivity(userId, list) {
      const rows = await client<
        { room_id: number; last_read: number | null; unread: number | null; id: number | null; user_id: number; username: string; content: string; created_ms: number }[]
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
            lastMessage: r.id === null ? null : { id: r.id, userId: r.user_id, username: r.username, content: r.content, createdAt: new Date(r.created_ms) },
          },
        ]),
      );
    },
    async removeMember(roomId, userId) {
      return client.begin(async (tx) => {
        // The room's row lock puts concurrent removals from one room in a line: each sees who the last one left.
        const [room] = await tx<{ kind: "room" | "direct" }[]>`SELECT kind FROM rooms WHERE id = ${roomId} FOR UPDATE`;
        const gone = room ? await tx`DELETE FROM room_members WHERE room_id = ${roomId} AND user_id = ${userId} RETURNING role` : [];
        if (gone.length === 0) return { removed: false, newOwner: null, roomDeleted: false };
        await tx`DELETE FROM read_positions WHERE room_id = ${roomId} AND user_id = ${userId}`;
        const left = (await tx<MemberRow[]>`
          SELECT ${tx.unsafe(MEMBER_COLUMNS)} FROM room_members m JOIN users u ON u.id = m.user_id
          WHERE m.room_id = ${roomId} ORDER BY m.joined_at, m.user_id`).map(toMember);
        if (left.length === 0) {
          await tx`DELETE FROM rooms WHERE id = ${roomId}`;
          await tx`DELETE FROM messages WHERE room_id = ${roomId}`;
          return { removed: true, newOwner: null, roomDeleted: true };
        }
        if (room!.kind !== "room" || left.some((m) => m.role === "owner")) return { removed: true, newOwner: null, roomDeleted: false };
        const heir = left[0]!;
        await tx`UPDATE room_members SET role = 'owner' WHERE room_id = ${roomId} AND user_id = ${heir.userId}`;
        return { removed: true, newOwner: { ...heir, role: "owner" as const }, roomDeleted: false };
      }) as Promise<MemberRemoval>;
    },
    async findRoom(id) {
      return first(await roomById.execute({ id }));
    },
    async deleteRoom(id) {
      return deleteWithMessages(client, "rooms", "room_id", id);
    },

    async insertMessages(batch: readonly NewMessage[]) {
      const sql = batchClient;
      let statement: { cancel(): unknown } | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const inserting = insertBatch(sql, batch, options.instanceId ?? "single", (sent) => (statement = sent));
      const stalled = new Promise<"stalled">((resolve) => (timer = setTimeout(resolve, BATCH_ANSWER_MS, "stalled")));
      try {
        const answer = await Promise.race([inserting, stalled]);
        if (answer !== "stalled") {
          search.soon();
          return answer;
        }
        // Cancelled, and its own answer awaited: refused only once PostgreSQL says it was cancelled (or says nothing
        // for CANCEL_WAIT_MS more), so that it cannot commit after its senders were told it was not stored. One
        // that committed meanwhile is answered as stored.
        void Promise.resolve(statement?.cancel()).catch(() => {});
        const late = await Promise.race([inserting.then((stored) => ({ stored }), () => undefined), Bun.sleep(CANCEL_WAIT_MS)]);
        if (late) return late.stored;
        throw new BatchStalledError();
      } catch (error) {
        if (lostConnection(error)) replaceBatchClient(sql);
        throw mapConstraint(error);
      } finally {
        clearTimeout(timer);
      }
    },
    async listMessages(roomId, query: HistoryQuery) {
      const rows =
        "before" in query
          ? await historyBefore.execute({ roomId, cursor: query.before, limit: query.limit })
          : "after" in query
            ? await historyAfter.execute({ roomId, cursor: query.after, limit: query.limit })
            : await historySkip.execute({ roomId, limit: query.limit, skip: query.skip });
      return rows.map(({ message, author }) => ({ ...message, author: author as UserRecord }));
    },
    async listMessagesJson(roomId, query: HistoryQuery) {
      const [kind, second] =
        "before" in query ? (["before", query.before] as const) : "after" in query ? (["after", query.after] as const) : (["skip", query.skip] as const);
      const rows = (await client.unsafe(pageStatements[kind], [roomId, second, query.limit], { prepare: true }).values()) as unknown as PageRow[];
      return { json: renderPage(rows), count: rows.length };
    },
    async findMessage(id) {
      return first(await messageById.execute({ id }));
    },
    async findMessagesByIds(ids) {
      if (ids.length === 0) return [];
      const rows = await page().where(inArray(messages.id, [...ids])).orderBy(asc(messages.id));
      return rows.map(({ message, author }) => ({ ...message, author: author as UserRecord }));
    },
    // An edit or delete is written to message_changes in the same statement (CHANGE_LOG), for other instances to
    // catch up on after their listener was away; the same statement drops changes older than CHANGES_KEPT.
    async updateMessage(id, content, editedAt) {
      const [row] = await client<MessageRow[]>`
        WITH changed AS (UPDATE messages SET content = ${content}, edited_at = to_timestamp(${editedAt.getTime()} / 1000.0)
                         WHERE id = ${id} RETURNING *),
        words AS (INSERT INTO message_words (message_id, words) SELECT id, ${tsvectorLiteral(content)}::tsvector FROM changed
                  ON CONFLICT (message_id) DO UPDATE SET words = excluded.words)${client.unsafe(CHANGE_LOG("updated"))}
        SELECT ${client.unsafe(ROW_COLUMNS)} FROM changed`;
      return row && toRecord(row);
    },
    async deleteMessage(id) {
      const rows = await client`
        WITH changed AS (DELETE FROM messages WHERE id = ${id} RETURNING id, room_id)${client.unsafe(CHANGE_LOG("deleted"))}
        SELECT id FROM changed`;
      return rows.length > 0;
    },
    async searchMessages(query) {
      await search.catchUp();
      const rows = (await client
        .unsafe(
          SEARCH_SQL,
          [
            tsqueryLiteral(query.terms),
            query.before ?? 2 ** 31 - 1,
            query.readerId,
            query.roomIds && arrayLiteral(query.roomIds),
            query.authorIds && arrayLiteral(query.authorIds),
            query.limit,
          ],
          // Planned for each query, not once: whether to walk the newest words first (a common word) or read the GIN
          // index (a rare one) depends on the words, and a generic plan cannot see them.
          { prepare: false },
        )
        .values()) as unknown as [...PageRow, string][];
      return rows.map((row): SearchHit => ({ message: pageRowToMessage(row as unknown as PageRow), roomName: row[10] }));
    },
    async changesSince(since) {
      const rows = await client<{ room_id: number; message_id: number; kind: "updated" | "deleted" }[]>`
        SELECT room_id, message_id, kind FROM message_changes WHERE at >= to_timestamp(${since.getTime()} / 1000.0) ORDER BY seq`;
      return rows.map((r) => ({ roomId: r.room_id, messageId: r.message_id, kind: r.kind }));
    },
    async importRecords(batch, options = {}) {
      try {
        return await client.begin(async (tx) => {
          const result = await importBatch(tx, batch, options.onProgress);
          if (options.dryRun) throw new DryRunDone(result);
          return result;
        });
      } catch (error) {
        if (error instanceof DryRunDone) return error.result;
        throw mapConstraint(error);
      }
    },

    async ping() {
      await client`SELECT 1`;
    },
    async migrationsApplied() {
      const [table] = await client`SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS present`;
      if (!table?.present) return false;
      const [row] = await client`SELECT max(created_at) AS at FROM drizzle.__drizzle_migrations`;
      return Number(row?.at ?? 0) >= latestMigrationMillis(migrations);
    },
    async close() {
      closing = true;
      await search.stop().catch((error: unknown) => console.error(`search: stopping the indexer failed: ${(error as Error).message}`));
      await Promise.all([client.end({ timeout: 5 }), batchClient.end({ timeout: 5 })]);
    },
  });
}

/** The store's reads: they change nothing, so each can be tried a second time. */
const READS = [
  "countUsers", "hasAdmin", "findUserById", "findRefreshToken", "findUserByUsername", "findUserByEmail", "listUsers", "listRooms", "findRoom",
  "listRoomListings", "findMemberRole", "listMembers", "roomActivity",
  "listMessages", "listMessagesJson", "findMessage", "findMessagesByIds", "searchMessages", "changesSince", "ping", "migrationsApplied",
] as const satisfies readonly (keyof Store)[];

/**
 * Each read that fails because its connection is gone is tried once more, on another connection. postgres-js
 * learns that PostgreSQL closed an idle connection (a restart, a failover, pg_terminate_backend) only when it next
 * sends a query on it, so without this the first request after such a close got 503 for nothing (4 runs in 25 of
 * test/faults.test.ts "every PostgreSQL connection of the server killed", at its history read). Writes are not
 * retried: one may have committed before its answer was lost.
 */
function retryReads(store: Store): Store {
  for (const name of READS) {
    const read = store[name] as (...args: unknown[]) => Promise<unknown>;
    const retried = (...args: unknown[]) => read(...args).catch((error: unknown) => (isStoreUnavailable(error) ? read(...args) : Promise.reject(error)));
    Object.assign(store, { [name]: retried });
  }
  return store;
}

interface InsertedRow {
  id: number;
  room_id: number;
  user_id: number;
  client_id: string | null;
}

interface RoomRow {
  id: number;
  name: string;
  description: string | null;
  visibility: "public" | "private";
  kind: "room" | "direct";
  created_ms: number;
}

const ROOM_COLUMNS = (table: string) =>
  `${table}.id, ${table}.name, ${table}.description, ${table}.visibility, ${table}.kind,
   round(extract(epoch FROM ${table}.created_at) * 1000)::float8 AS created_ms`;

function toRoom(row: RoomRow): RoomRecord {
  const { created_ms, ...rest } = row;
  return { ...rest, createdAt: new Date(created_ms) };
}

async function createRoomWithOwner(tx: postgres.TransactionSql, room: NewRoom): Promise<RoomRecord> {
  const { name, description, createdAt, visibility = "public" } = room;
  const [row] = await tx<RoomRow[]>`
    INSERT INTO rooms (name, description, visibility, created_at)
    VALUES (${name}, ${description}, ${visibility}, to_timestamp(${createdAt.getTime()} / 1000.0))
    RETURNING ${tx.unsafe(ROOM_COLUMNS("rooms"))}`;
  if (visibility === "private") {
    await tx`INSERT INTO room_members (room_id, user_id, role, joined_at)
             VALUES (${row!.id}, ${room.ownerId!}, 'owner', to_timestamp(${createdAt.getTime()} / 1000.0))`;
  }
  return toRoom(row!);
}

interface MemberRow {
  room_id: number;
  user_id: number;
  username: string;
  role: "owner" | "member";
  joined_ms: number;
}

const MEMBER_COLUMNS = `m.room_id, m.user_id, u.username, m.role, round(extract(epoch FROM m.joined_at) * 1000)::float8 AS joined_ms`;

function toMember(row: MemberRow): MemberRecord {
  return { roomId: row.room_id, userId: row.user_id, username: row.username, role: row.role, joinedAt: new Date(row.joined_ms) };
}

interface UserRow {
  id: number;
  username: string;
  username_twin: number;
  email: string;
  hashed_password: string;
  role: Role;
  token_version: number;
  status: AccountStatus;
  created_ms: number;
}

const USER_COLUMNS = `id, username, username_twin, email, hashed_password, role, token_version, status,
  round(extract(epoch FROM created_at) * 1000)::float8 AS created_ms`;

function toUser(row: UserRow): UserRecord {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    passwordHash: row.hashed_password,
    role: row.role,
    tokenVersion: row.token_version,
    status: row.status,
    createdAt: new Date(row.created_ms),
  };
}

interface RefreshRow {
  token_hash: string;
  family_id: string;
  user_id: number;
  created_ms: number;
  expires_ms: number;
  spent_ms: number | null;
}

const REFRESH_COLUMNS = `token_hash, family_id, user_id, round(extract(epoch FROM created_at) * 1000)::float8 AS created_ms,
  round(extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms, round(extract(epoch FROM spent_at) * 1000)::float8 AS spent_ms`;

function toRefresh(row: RefreshRow): RefreshTokenRecord {
  return {
    hash: row.token_hash,
    familyId: row.family_id,
    userId: row.user_id,
    createdAt: new Date(row.created_ms),
    expiresAt: new Date(row.expires_ms),
    spentAt: row.spent_ms === null ? null : new Date(row.spent_ms),
  };
}

/** Stores a refresh token and drops the user's expired (or revoked) ones. */
async function insertRefresh(tx: postgres.TransactionSql, token: NewRefreshToken): Promise<void> {
  const ts = (d: Date) => d.getTime() / 1000;
  await tx`DELETE FROM refresh_tokens WHERE user_id = ${token.userId} AND expires_at < to_timestamp(${ts(token.createdAt)})`;
  await tx`INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at)
           VALUES (${token.hash}, ${token.familyId}, ${token.userId}, to_timestamp(${ts(token.createdAt)}), to_timestamp(${ts(token.expiresAt)}))`;
}

async function insertUser(tx: postgres.TransactionSql, user: NewUser): Promise<UserRecord> {
  const [row] = await tx<UserRow[]>`
    INSERT INTO users (username, email, hashed_password, role, created_at)
    VALUES (${user.username}, ${user.email}, ${user.passwordHash}, ${user.role}, to_timestamp(${user.createdAt.getTime()} / 1000.0))
    RETURNING ${tx.unsafe(USER_COLUMNS)}`;
  return toUser(row!);
}

interface MessageRow {
  id: number;
  room_id: number;
  user_id: number;
  content: string;
  client_id: string | null;
  created_ms: number;
  edited_ms: number | null;
}

/** How long message_changes keeps an edit or delete: a listener away for longer misses those older. */
const CHANGES_KEPT = "1 hour";
/** The CTEs that log the `changed` rows (id, room_id) as `kind`, and prune the log. */
const CHANGE_LOG = (kind: "updated" | "deleted") => `,
  logged AS (INSERT INTO message_changes (room_id, message_id, kind) SELECT room_id, id, '${kind}' FROM changed),
  pruned AS (DELETE FROM message_changes WHERE at < now() - interval '${CHANGES_KEPT}')`;

// Drizzle reconfigures the shared postgres-js client to return timestamps as strings; epoch milliseconds as
// float8 come back as numbers whatever the parsers are.
const ROW_COLUMNS = `id, room_id, user_id, content, client_id,
  round(extract(epoch FROM created_at) * 1000)::float8 AS created_ms,
  round(extract(epoch FROM edited_at) * 1000)::float8 AS edited_ms`;


/**
 * SQL that is true once every room and author the messages name is key-share locked (each once), and fails with
 * foreign_key_violation if one does not exist: the check the dropped foreign keys made row by row. Locking reads
 * the newest committed rows, so a delete committed after the statement began is seen; one that starts later waits
 * for this transaction. `after`: a condition evaluated first (the insert lock).
 */
function requireReferences(sql: postgres.Sql | postgres.TransactionSql, batch: readonly { roomId: number; userId: number }[], after: postgres.PendingQuery<postgres.Row[]>) {
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
async function deleteWithMessages(client: postgres.Sql, table: "rooms" | "users", column: "room_id" | "user_id", id: number) {
  return client.begin(async (tx) => {
    const gone = await tx`DELETE FROM ${tx(table)} WHERE id = ${id} RETURNING id`;
    if (gone.length > 0) await tx`DELETE FROM messages WHERE ${tx(column)} = ${id}`;
    return gone.length > 0;
  });
}

async function insertBatch(
  client: postgres.Sql,
  batch: readonly NewMessage[],
  origin: string,
  onStatement: (statement: { cancel(): unknown }) => void = () => {},
): Promise<StoredMessage[]> {
  const column = (pick: (m: NewMessage) => string | number | null) => arrayLiteral(batch.map(pick));
  // The lock is an InitPlan, taken before the first row gets its id. ORDER BY ord makes ids follow the batch's
  // order; times travel as epoch milliseconds (cheap to parse). The NOTIFY is sent at commit, with the ids only.
  // `refs` stands in for the foreign keys (schema.ts), taken after the insert lock.
  const insert = client<InsertedRow[]>`
    WITH lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(${INSERT_LOCK})),
    refs AS MATERIALIZED (SELECT ${requireReferences(client, batch, client`EXISTS (SELECT FROM lock)`)} AS ok),
    ins AS (
      INSERT INTO messages (room_id, user_id, content, client_id, created_at)
      SELECT room_id, user_id, content, client_id, to_timestamp(created_ms / 1000.0)
      FROM unnest(${column((m) => m.roomId)}::int[], ${column((m) => m.userId)}::int[],
                  ${column((m) => m.content)}::text[], ${column((m) => m.clientId)}::text[],
                  ${column((m) => m.createdAt.getTime())}::float8[])
        WITH ORDINALITY AS b(room_id, user_id, content, client_id, created_ms, ord)
      WHERE (SELECT ok FROM refs)
      ORDER BY ord
      ON CONFLICT (room_id, user_id, client_id) DO NOTHING
      RETURNING id, room_id, user_id, client_id
    ),
    notified AS (
      SELECT pg_notify(${NOTIFY_CHANNEL}, json_build_object(
        'kind', 'messages', 'origin', ${origin}::text, 'items', json_agg(json_build_array(room_id, id) ORDER BY id))::text)
      FROM ins HAVING count(*) > 0
    )
    SELECT id, room_id, user_id, client_id FROM ins WHERE (SELECT count(*) FROM notified) >= 0`;
  onStatement(insert);
  const inserted = await insert;

  // Fresh rows are known from the input; only their ids come back. Resends are read back whole.
  const freshByKey = new Map<string, number>();
  const anonymous: number[] = [];
  const keyOf = (roomId: number, userId: number, clientId: string | null) => `${roomId}:${userId}:${clientId}`;
  for (const row of inserted) {
    if (row.client_id === null) anonymous.push(row.id);
    else freshByKey.set(keyOf(row.room_id, row.user_id, row.client_id), row.id);
  }
  const resentByKey = new Map<string, MessageRecord>();
  const resent = batch.filter((m) => m.clientId !== null && !freshByKey.has(keyOf(m.roomId, m.userId, m.clientId)));
  if (resent.length > 0) {
    const rows = await client<MessageRow[]>`
      SELECT ${client.unsafe(ROW_COLUMNS)} FROM messages
      WHERE (room_id, user_id, client_id) IN (
        SELECT * FROM unnest(${arrayLiteral(resent.map((m) => m.roomId))}::int[], ${arrayLiteral(resent.map((m) => m.userId))}::int[],
                             ${arrayLiteral(resent.map((m) => m.clientId))}::text[]))`;
    for (const row of rows) resentByKey.set(keyOf(row.room_id, row.user_id, row.client_id), toRecord(row));
  }
  let next = 0;
  return batch.map((m) => {
    if (m.clientId === null) return { duplicate: false, record: fresh(m, anonymous[next++]) };
    const key = keyOf(m.roomId, m.userId, m.clientId);
    const id = freshByKey.get(key);
    if (id !== undefined) {
      // The first input with this key made the row; a second one in the same batch is a resend.
      freshByKey.delete(key);
      const record = fresh(m, id);
      resentByKey.set(key, record);
      return { duplicate: false, record };
    }
    const record = resentByKey.get(key);
    if (!record) throw new Error("insertMessages: a stored row is missing");
    return { duplicate: true, record };
  });
}

/**
 * tsquery syntax for the terms, as a literal (the words hold letters and digits only, so quoting them is enough):
 * a phrase's words joined by <-> (adjacent), :* on a prefix, the terms ANDed.
 */
function tsqueryLiteral(terms: SearchQuery["terms"]): string {
  return terms
    .map((t) => `(${t.words.map((w, i) => `'${w}'${t.prefix && i === t.words.length - 1 ? ":*" : ""}`).join(" <-> ")})`)
    .join(" & ");
}

/** Newest first; membership in SQL. $4 rooms and $5 authors are int[] literals, or null for no filter. */
const SEARCH_SQL = `
  SELECT m.id, m.content, round(extract(epoch FROM m.created_at) * 1000)::float8, m.user_id, m.room_id, m.client_id,
         round(extract(epoch FROM m.edited_at) * 1000)::float8, u.username, u.role, round(extract(epoch FROM u.created_at) * 1000)::float8,
         CASE WHEN r.kind = 'direct'
              THEN coalesce((SELECT o.username FROM room_members d JOIN users o ON o.id = d.user_id
                             WHERE d.room_id = r.id AND d.user_id <> $3 LIMIT 1), '(deleted account)')
              ELSE r.name END
  FROM message_words w JOIN messages m ON m.id = w.message_id JOIN users u ON u.id = m.user_id JOIN rooms r ON r.id = m.room_id
  WHERE w.words @@ $1::tsquery AND w.message_id < $2
    AND (r.visibility = 'public' OR EXISTS (SELECT 1 FROM room_members a WHERE a.room_id = r.id AND a.user_id = $3))
    AND ($4::int[] IS NULL OR m.room_id = ANY($4::int[]))
    AND ($5::int[] IS NULL OR m.user_id = ANY($5::int[]))
  ORDER BY w.message_id DESC LIMIT $6`;

/** How many messages the backfill indexes per transaction. */
const BACKLOG_CHUNK = 5000;



/**
 * Gives the messages stored before the search migration their words (search_backfill holds the id below which
 * some are left), newest first, a chunk per transaction, so an interrupted start carries on where it stopped.
 * Runs under the migration lock.
 */
async function indexBacklog(client: postgres.Sql): Promise<void> {
  let done = 0;
  for (;;) {
    const [left] = await client<{ below_id: number }[]>`SELECT below_id FROM search_backfill`;
    if (!left) return;
    const count = await client.begin(async (tx) => {
      const rows = await tx<{ id: number; content: string }[]>`
        SELECT id, content FROM messages WHERE id < ${left.below_id} ORDER BY id DESC LIMIT ${BACKLOG_CHUNK}`;
      await insertWords(tx, rows);
      if (rows.length < BACKLOG_CHUNK) await tx`DELETE FROM search_backfill`;
      else await tx`UPDATE search_backfill SET below_id = ${rows[rows.length - 1]!.id}`;
      return rows.length;
    });
    done += count;
    if (done > 0 && done % 100_000 === 0) console.error(`search: indexed ${done} earlier messages`);
  }
}

/** Thrown to roll a dry run back, carrying what it would have done. (Identity sequences still advance.) */
class DryRunDone {
  constructor(readonly result: ImportResult) {}
}

const IMPORT_CHUNK = 5000;

async function importBatch(tx: postgres.TransactionSql, batch: ImportBatch, onProgress?: (done: number) => void): Promise<ImportResult> {
  const ms = (d: Date) => d.getTime();
  // Ids come back keyed by the unique name, so nothing relies on the order of RETURNING.
  const userRows = await tx<{ id: number; username: string }[]>`
    INSERT INTO users (username, email, hashed_password, role, created_at)
    SELECT username, email, hashed_password, role, to_timestamp(created_ms / 1000.0)
    FROM unnest(${arrayLiteral(batch.users.map((u) => u.username))}::text[], ${arrayLiteral(batch.users.map((u) => u.email))}::text[],
                ${arrayLiteral(batch.users.map((u) => u.passwordHash))}::text[], ${arrayLiteral(batch.users.map((u) => u.role))}::text[],
                ${arrayLiteral(batch.users.map((u) => ms(u.createdAt)))}::float8[])
      WITH ORDINALITY AS b(username, email, hashed_password, role, created_ms, ord)
    ORDER BY ord
    RETURNING id, username`;
  const userId = new Map(userRows.map((r) => [r.username, r.id]));
  const roomRows = await tx<{ id: number; name: string }[]>`
    INSERT INTO rooms (name, description, created_at)
    SELECT name, description, to_timestamp(created_ms / 1000.0)
    FROM unnest(${arrayLiteral(batch.rooms.map((r) => r.name))}::text[], ${arrayLiteral(batch.rooms.map((r) => r.description))}::text[],
                ${arrayLiteral(batch.rooms.map((r) => ms(r.createdAt)))}::float8[])
      WITH ORDINALITY AS b(name, description, created_ms, ord)
    ORDER BY ord
    RETURNING id, name`;
  const roomId = new Map(roomRows.map((r) => [r.name, r.id]));
  const userIds = batch.users.map((u) => userId.get(u.username)!);
  const roomIds = batch.rooms.map((r) => roomId.get(r.name)!);

  let messagesStored = 0;
  for (let start = 0; start < batch.messages.length; start += IMPORT_CHUNK) {
    const chunk = batch.messages.slice(start, start + IMPORT_CHUNK);
    const refs = chunk.map((m) => ({ roomId: resolveImportRef(m.room, roomIds), userId: resolveImportRef(m.user, userIds) }));
    await tx`SELECT ${requireReferences(tx, refs, tx`true`)}`;
    const column = (pick: (m: (typeof chunk)[number]) => string | number | null) => arrayLiteral(chunk.map(pick));
    const inserted = await tx<{ id: number; content: string }[]>`
      INSERT INTO messages (room_id, user_id, content, client_id, created_at)
      SELECT room_id, user_id, content, client_id, to_timestamp(created_ms / 1000.0)
      FROM unnest(${column((m) => resolveImportRef(m.room, roomIds))}::int[], ${column((m) => resolveImportRef(m.user, userIds))}::int[],
                  ${column((m) => m.content)}::text[], ${column((m) => m.clientId)}::text[],
                  ${column((m) => ms(m.createdAt))}::float8[])
        WITH ORDINALITY AS b(room_id, user_id, content, client_id, created_ms, ord)
      ORDER BY ord
      ON CONFLICT (room_id, user_id, client_id) DO NOTHING
      RETURNING id, content`;
    // Imports do not commit in id order (they take no insert lock), so the indexer's mark could pass them by:
    // they bring their words with them.
    await insertWords(tx, inserted);
    messagesStored += inserted.length;
    onProgress?.(start + chunk.length);
  }
  return { userIds, roomIds, messagesStored };
}

function fresh(m: NewMessage, id: number | undefined): MessageRecord {
  if (id === undefined) throw new Error("insertMessages: RETURNING has fewer rows than the batch");
  // The column is timestamp(3): what is stored is the input rounded to the millisecond, as getTime() already is.
  return { id, roomId: m.roomId, userId: m.userId, content: m.content, clientId: m.clientId, createdAt: m.createdAt, editedAt: null };
}

function toRecord(row: MessageRow): MessageRecord {
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

/**
 * Whether an error says the connection it came from is gone: postgres-js's own (CONNECTION_CLOSED, CONNECT_TIMEOUT,
 * ...), a socket's (ECONNRESET, EPIPE, ...), or a FATAL from the server. A statement's error leaves it usable.
 */
function lostConnection(error: unknown): boolean {
  if (error instanceof postgres.PostgresError) return error.severity === "FATAL" || error.severity === "PANIC";
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("CONNECT") || /^E[A-Z]+$/.test(code));
}

function mapConstraint(thrown: unknown): unknown {
  // Drizzle wraps the driver's error in DrizzleQueryError; the code is on its cause.
  const error = thrown instanceof Error && thrown.cause instanceof postgres.PostgresError ? thrown.cause : thrown;
  if (!(error instanceof postgres.PostgresError)) return thrown;
  if (error.code === "23503") return new MissingReferenceError();
  if (error.code === "23505") {
    const name = error.constraint_name ?? "";
    if (name.includes("username")) return new ConflictError("username");
    if (name.includes("email")) return new ConflictError("email");
    if (name.includes("name")) return new ConflictError("name");
  }
  return error;
}
