// The account rules both stores apply in the same way: what a change writes, and when it would leave no admin.
import type { AccountChange, AccountStatus, Role, UserRecord } from "./records.ts";

/**
 * The username every deleted account shows (and stores: its username_twin is its own id, which keeps these rows
 * apart in the case-insensitive unique index). Signup cannot produce it: a space is not allowed in a username.
 */
export const DELETED_USERNAME = "deleted user";

/** The columns an account change writes (besides the token version). */
export function accountAfter(user: UserRecord, change: AccountChange) {
  if (change.status === "deleted") {
    return {
      username: DELETED_USERNAME,
      usernameTwin: user.id,
      email: `~deleted~${user.id}`,
      // Not a bcrypt hash: no password verifies against it.
      passwordHash: "!",
      role: "user" as const,
      status: "deleted" as const,
    };
  }
  const { username, email } = user;
  return {
    username,
    email,
    passwordHash: change.passwordHash ?? user.passwordHash,
    role: change.role ?? user.role,
    status: change.status ?? user.status,
  };
}

/** Whether going from `user` to `next` takes away an active admin. */
export function leavesNoAdmin(user: UserRecord, next: { role: Role; status: AccountStatus }): boolean {
  return user.role === "admin" && user.status === "active" && !(next.role === "admin" && next.status === "active");
}

export const isRoleOnly = (change: AccountChange) =>
  change.role !== undefined && change.status === undefined && change.passwordHash === undefined;
