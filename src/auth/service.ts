// Accounts: signup with the admin rule, login and refresh, token checks against the stored user, logout, password
// change, deletion, and the admins' role and status changes.
// About 300 lines on purpose: every path here shares the same account and token checks, kept in one place.
import type { Cache } from "../cache.ts";
import type { Clock } from "../clock.ts";
import { AppError } from "../errors.ts";
import { isStorableText } from "../messages/model.ts";
import {
  ConflictError,
  LastAdminError,
  type AccountChange,
  type NewUser,
  type Role,
  type Store,
  type UserRecord,
} from "../store/store.ts";
import { TokenError, type TokenCodec } from "./jwt.ts";
import type { PasswordHasher } from "./password.ts";
import { createHashQueue, createLoginThrottle, createSignupThrottle, UNKNOWN_ADDRESS } from "./rate-limit.ts";
import { hashRefreshToken, newFamilyId, newRefreshToken, REFRESH_LIMITS } from "./refresh.ts";

/** What login, refresh and a password change answer: the seed's two fields, then the rest. */
export interface TokenPair {
  access_token: string;
  token_type: "bearer";
  /** Seconds the access token lives. */
  expires_in: number;
  refresh_token: string;
}

export interface SignupInput {
  username: string;
  email: string;
  password: string;
  role?: Role;
}

export type AuthService = ReturnType<typeof createAuthService>;

/** Users by id, for token checks; dropped whole on any revocation (see the hub's Invalidation). */
export type UserCache = Cache<number, 0, UserRecord | undefined>;

/** A token's `sub` is the account's id in canonical decimal: a name can be signed up again, an id never. */
const accountId = (sub: string): number | undefined => (/^[1-9][0-9]{0,9}$/.test(sub) ? Number(sub) : undefined);
/** Users kept at most by the token check's cache. */
export const USER_CACHE_ENTRIES = 10_000;

export interface AuthDeps {
  store: Store;
  tokens: TokenCodec;
  passwords: PasswordHasher;
  clock: Clock;
  /**
   * Told when a user's earlier tokens stop working (logout, role change), so live sockets can close; the change
   * returns once this has settled (every instance has closed them).
   */
  onRevoke?: (userId: number) => Promise<void> | void;
  /** Told once an account is deleted, to take it out of its private rooms (awaited: DELETE answers after it). */
  onDeleted?: (user: UserRecord) => Promise<void>;
  /** Saves the token check its database read; whoever invalidates it must hear every revocation. */
  users?: UserCache;
  /** Signups per client address per SIGNUP_WINDOW_MS; 0 = no limit. */
  signupsPerAddress: number;
}

export function createAuthService(deps: AuthDeps) {
  const { store, tokens, passwords, clock } = deps;
  const throttle = createLoginThrottle(clock);
  const signups = createSignupThrottle(clock, deps.signupsPerAddress);
  const signupHashes = createHashQueue((password) => passwords.hash(password));
  const revoked = async (user: UserRecord | undefined) => {
    if (user) await deps.onRevoke?.(user.id);
    return user;
  };

  /**
   * The user a token speaks for and when the token expires, or AppError INVALID_TOKEN with the reason. `fresh`
   * reads the user from the database, not the cache: another instance's revocation reaches this one's cache
   * through the bus, a few milliseconds after it returned, and writes and admin actions must not use that gap.
   * `beside` is a check that needs only the user's id (a socket's room): it runs alongside the user read once the
   * signature holds, so a join that finds neither in a cache waits for one round trip, not two; a refused token
   * is reported before anything it refuses.
   */
  async function authenticateSession(
    token: string,
    fresh = false,
    beside?: (userId: number) => Promise<unknown>,
  ): Promise<{ user: UserRecord; expiresAt: number }> {
    let claims;
    try {
      claims = await tokens.verify(token);
    } catch (error) {
      if (error instanceof TokenError) throw new AppError("INVALID_TOKEN", { reason: error.code });
      throw error;
    }
    const id = accountId(claims.sub);
    const alongside = id === undefined ? undefined : beside?.(id);
    alongside?.catch(() => {});
    const user =
      id === undefined
        ? undefined
        : deps.users && !fresh
          ? await deps.users.read(id, 0, () => store.findUserById(id))
          : await store.findUserById(id);
    // A deleted or disabled user (or a token naming an account the old way, by username), or a token from before a
    // logout, role, status or password change, is no longer valid.
    if (!user || user.tokenVersion !== claims.ver || user.status !== "active") {
      throw new AppError("INVALID_TOKEN", { reason: "TOKEN_REVOKED" });
    }
    await alongside;
    return { user, expiresAt: claims.exp * 1000 };
  }

  return {
    authenticateSession,
    authenticate: async (token: string, fresh = false): Promise<UserRecord> =>
      (await authenticateSession(token, fresh)).user,

    /**
     * Seed rule minus its hole: "admin" needs an admin actor, except while the database has no admin at all (the
     * first account, or the first admin made from the browser); of concurrent such signups exactly one wins.
     * Throttled per `address` (the client's IP when known), and the hash waits for a slot (see SIGNUP_HASHING).
     */
    async signup(input: SignupInput, actor: UserRecord | undefined, address = UNKNOWN_ADDRESS): Promise<UserRecord> {
      const role = input.role ?? "user";
      const firstAdmin = role === "admin" && actor?.role !== "admin";
      // Cheap refusals before the hash; the store decides again, atomically, when it writes.
      if (firstAdmin && (await store.hasAdmin())) throw new AppError("ADMIN_SIGNUP_FORBIDDEN");
      // The seed checks the username before the email; keep its order of answers.
      if (await store.findUserByUsername(input.username)) throw new AppError("USERNAME_TAKEN");
      if (await store.findUserByEmail(input.email)) throw new AppError("EMAIL_TAKEN");
      // Checked and counted in one step just before the hash, so concurrent signups cannot all pass the check;
      // a refusal for a taken name costs no hash and so no place.
      signups.take(address);
      const user: NewUser = {
        username: input.username,
        email: input.email,
        passwordHash: await signupHashes.hash(input.password),
        role,
        createdAt: new Date(clock()),
      };
      try {
        const created = firstAdmin ? await store.createFirstAdmin(user) : await store.createUser(user);
        if (!created) throw new AppError("ADMIN_SIGNUP_FORBIDDEN");
        return created;
      } catch (error) {
        if (error instanceof ConflictError) {
          throw new AppError(error.field === "email" ? "EMAIL_TAKEN" : "USERNAME_TAKEN");
        }
        throw error;
      }
    },

    /**
     * `address` is the client's IP when known; throttled per username and per address (see rate-limit.ts). A
     * disabled account is told so (403) only after its password is verified, so strangers learn nothing.
     */
    async login(username: string, password: string, address = UNKNOWN_ADDRESS): Promise<TokenPair> {
      throttle.begin(username, address);
      // Text no store can hold names nobody; PostgreSQL would fail the lookup of a NUL instead (a 500).
      const user = isStorableText(username) ? await store.findUserByUsername(username) : undefined;
      if (!user) {
        await passwords.burn(password);
        throw new AppError("BAD_CREDENTIALS");
      }
      if (!(await passwords.verify(password, user.passwordHash))) {
        throw new AppError("BAD_CREDENTIALS");
      }
      throttle.succeeded(username, address);
      if (user.status !== "active") throw new AppError("ACCOUNT_DISABLED");
      return issue(user, newFamilyId());
    },

    /**
     * A new pair for a refresh token, which is spent. A spent token presented again revokes its family and every
     * access token of the account (401 REFRESH_TOKEN_REUSED), unless it was spent less than REFRESH_LIMITS.graceMs
     * ago (401 REFRESH_TOKEN_SPENT: a concurrent refresh with the same token won).
     */
    async refresh(token: string): Promise<TokenPair> {
      const hash = hashRefreshToken(token);
      let found = await store.findRefreshToken(hash);
      const user = found && (await store.findUserById(found.userId));
      if (!found || !user) throw new AppError("INVALID_REFRESH_TOKEN");
      if (user.status !== "active") throw new AppError("ACCOUNT_DISABLED");
      const now = clock();
      if (found.spentAt === null && found.expiresAt.getTime() > now) {
        const next = newRefreshToken();
        const record = {
          hash: hashRefreshToken(next),
          familyId: found.familyId,
          userId: user.id,
          createdAt: new Date(now),
          expiresAt: new Date(now + REFRESH_LIMITS.ttlMs),
        };
        if (await store.rotateRefreshToken(hash, record, new Date(now))) return pair(user, next);
        found = (await store.findRefreshToken(hash)) ?? found; // lost a race: see what the winner left
      }
      // Expired, or revoked (logout, password change, a reused family): as unknown. (Unspent here: revoked meanwhile.)
      if (found.expiresAt.getTime() <= now || found.spentAt === null) throw new AppError("INVALID_REFRESH_TOKEN");
      if (now - found.spentAt.getTime() < REFRESH_LIMITS.graceMs) {
        throw new AppError("INVALID_REFRESH_TOKEN", {
          reason: "REFRESH_TOKEN_SPENT",
          detail: "Refresh token was just used: use the pair that refresh returned",
        });
      }
      // Whoever holds the family's newest token may be the thief: the whole family stops, and so do the account's
      // access tokens (they cannot be told apart by family); the account's other logins only have to refresh.
      await store.revokeRefreshFamily(found.familyId);
      await revoked(await store.bumpTokenVersion(user.id));
      throw new AppError("INVALID_REFRESH_TOKEN", {
        reason: "REFRESH_TOKEN_REUSED",
        detail: "Refresh token was already used: every token of its login is revoked",
      });
    },

    /** Whether anyone can still sign up as admin (no admin yet): what /chat and the start-up log tell a new user. */
    adminExists: () => store.hasAdmin(),

    /** Every token and refresh token issued to this user so far stops working. */
    async logout(user: UserRecord): Promise<void> {
      await change(user.id, {});
    },

    /**
     * Only with the current password (a wrong one counts as a failed login). Every earlier token and refresh token
     * of the account stops, and its sockets close; the caller gets a fresh pair.
     */
    async changePassword(
      user: UserRecord,
      current: string,
      next: string,
      address = UNKNOWN_ADDRESS,
    ): Promise<TokenPair> {
      await checkPassword(user, current, address);
      const changed = await change(user.id, { passwordHash: await passwords.hash(next) });
      return issue(changed, newFamilyId());
    },

    /** The account deletes itself, given its password (a wrong one counts as a failed login). */
    async deleteOwnAccount(user: UserRecord, password: string, address = UNKNOWN_ADDRESS): Promise<void> {
      await checkPassword(user, password, address);
      await deleteAccount(user.id);
    },

    deleteAccount,

    listUsers: () => store.listUsers(),

    /** An admin's change of role and/or status; refused with LAST_ADMIN (409) when it would leave no active admin. */
    async updateUser(id: number, update: { role?: Role; disabled?: boolean }): Promise<UserRecord> {
      const status = update.disabled === undefined ? undefined : update.disabled ? "disabled" : "active";
      return change(id, { role: update.role, status });
    },

    async setRole(id: number, role: Role): Promise<UserRecord> {
      return change(id, { role });
    },
  };

  /** Applies an account change (store.updateAccount) and closes the account's sockets everywhere. */
  async function change(id: number, update: AccountChange): Promise<UserRecord> {
    const user = await revoked(
      await store.updateAccount(id, update).catch((error: unknown) => {
        throw error instanceof LastAdminError ? new AppError("LAST_ADMIN") : error;
      }),
    );
    if (!user) throw new AppError("USER_NOT_FOUND");
    return user;
  }

  /** Anonymises the account (see AccountChange), then takes it out of its private rooms. */
  async function deleteAccount(id: number): Promise<void> {
    const user = await change(id, { status: "deleted" });
    await deps.onDeleted?.(user);
  }

  async function checkPassword(user: UserRecord, password: string, address: string): Promise<void> {
    // Counted under the account's current username, like a login with it: guesses here spend the same budget.
    throttle.begin(user.username, address);
    if (!(await passwords.verify(password, user.passwordHash)))
      throw new AppError("BAD_CREDENTIALS", { detail: "Incorrect password" });
    throttle.succeeded(user.username, address);
  }

  async function pair(user: UserRecord, refreshToken: string): Promise<TokenPair> {
    return {
      access_token: await tokens.sign({ sub: String(user.id), role: user.role, ver: user.tokenVersion }),
      token_type: "bearer",
      expires_in: tokens.ttlSeconds,
      refresh_token: refreshToken,
    };
  }

  /** A pair whose refresh token starts (or continues) `familyId`. */
  async function issue(user: UserRecord, familyId: string): Promise<TokenPair> {
    const token = newRefreshToken();
    const now = clock();
    await store.insertRefreshToken({
      hash: hashRefreshToken(token),
      familyId,
      userId: user.id,
      createdAt: new Date(now),
      expiresAt: new Date(now + REFRESH_LIMITS.ttlMs),
    });
    return pair(user, token);
  }
}
