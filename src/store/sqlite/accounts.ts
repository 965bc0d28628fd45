// Accounts: users, found by id, name or email, and changed under the rule that an active admin always remains.
import type { Database } from "bun:sqlite";
import { and, asc, count, eq, sql } from "drizzle-orm";
import {
  accountAfter,
  isRoleOnly,
  LastAdminError,
  leavesNoAdmin,
  type AccountChange,
  type NewUser,
  type UserRecord,
  type AccountQueries,
} from "../store.ts";
import { mapConstraint } from "./errors.ts";
import type { Db } from "./rows.ts";
import { refreshTokens, users } from "./schema.ts";

const p = sql.placeholder;

export function accountQueries(sqlite: Database, db: Db): AccountQueries {
  const userById = db
    .select()
    .from(users)
    .where(eq(users.id, p("id")))
    .prepare();
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
  const insertIfNoAdmin = sqlite.transaction((user: NewUser) =>
    otherAdmin.get({ id: 0 }) ? undefined : insertUser(user),
  );
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
    if (!isRoleOnly(change))
      db.update(refreshTokens)
        .set({ expiresAt: new Date(0) })
        .where(eq(refreshTokens.userId, id))
        .run();
    return updated;
  });

  return {
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
  };
}
