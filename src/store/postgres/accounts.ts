// Accounts: users, found by id, name or email, and changed under the rule that an active admin always remains.
import type postgres from "postgres";
import { and, asc, count, eq, sql } from "drizzle-orm";
import {
  accountAfter,
  isRoleOnly,
  LastAdminError,
  leavesNoAdmin,
  type AccountQueries,
  type AccountStatus,
  type NewUser,
  type Role,
  type UserRecord,
} from "../store.ts";
import { mapConstraint } from "./errors.ts";
import { ADMIN_LOCK } from "./locks.ts";
import { deleteWithMessages } from "./references.ts";
import { first, type Db } from "./rows.ts";
import { users } from "./schema.ts";

const p = sql.placeholder;

export function accountQueries(client: postgres.Sql, db: Db): AccountQueries {
  const userById = db
    .select()
    .from(users)
    .where(eq(users.id, p("id")))
    .prepare("user_by_id");
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

  return {
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
        const [row] = await tx<
          UserRow[]
        >`SELECT ${tx.unsafe(USER_COLUMNS)} FROM users WHERE id = ${id} AND status <> 'deleted' FOR UPDATE`;
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
  };
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

async function insertUser(tx: postgres.TransactionSql, user: NewUser): Promise<UserRecord> {
  const [row] = await tx<UserRow[]>`
    INSERT INTO users (username, email, hashed_password, role, created_at)
    VALUES (${user.username}, ${user.email}, ${user.passwordHash}, ${user.role}, to_timestamp(${user.createdAt.getTime()} / 1000.0))
    RETURNING ${tx.unsafe(USER_COLUMNS)}`;
  return toUser(row!);
}
