// Accounts: signup with the admin rule, login, token checks against the stored user, logout and role changes.
import type { Cache } from "../cache.ts";
import type { Clock } from "../clock.ts";
import { AppError } from "../errors.ts";
import { isStorableText } from "../messages/model.ts";
import { ConflictError, type Role, type Store, type UserRecord } from "../store/store.ts";
import { TokenError, type TokenCodec } from "./jwt.ts";
import type { PasswordHasher } from "./password.ts";
import { createLoginThrottle, UNKNOWN_ADDRESS } from "./rate-limit.ts";

export interface SignupInput {
  username: string;
  email: string;
  password: string;
  role?: Role;
}

export type AuthService = ReturnType<typeof createAuthService>;

/** Users by username, for token checks; dropped whole on any revocation (see the hub's Invalidation). */
export type UserCache = Cache<string, 0, UserRecord | undefined>;
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
  /** Saves the token check its database read; whoever invalidates it must hear every revocation. */
  users?: UserCache;
}

export function createAuthService(deps: AuthDeps) {
  const { store, tokens, passwords, clock } = deps;
  const throttle = createLoginThrottle(clock);
  const revoked = async (user: UserRecord | undefined) => {
    if (user) await deps.onRevoke?.(user.id);
    return user;
  };

  /**
   * The user a token speaks for and when the token expires, or AppError INVALID_TOKEN with the reason. `fresh`
   * reads the user from the database, not the cache: another instance's revocation reaches this one's cache
   * through the bus, a few milliseconds after it returned, and writes and admin actions must not use that gap.
   */
  async function authenticateSession(token: string, fresh = false): Promise<{ user: UserRecord; expiresAt: number }> {
    let claims;
    try {
      claims = await tokens.verify(token);
    } catch (error) {
      if (error instanceof TokenError) throw new AppError("INVALID_TOKEN", { reason: error.code });
      throw error;
    }
    const username = claims.sub;
    const user =
      deps.users && !fresh
        ? await deps.users.read(username, 0, () => store.findUserByUsername(username))
        : await store.findUserByUsername(username);
    // A deleted user, or a token from before a logout or role change, is no longer valid.
    if (!user || user.tokenVersion !== claims.ver) {
      throw new AppError("INVALID_TOKEN", { reason: "TOKEN_REVOKED" });
    }
    return { user, expiresAt: claims.exp * 1000 };
  }

  return {
    authenticateSession,
    authenticate: async (token: string, fresh = false): Promise<UserRecord> => (await authenticateSession(token, fresh)).user,

    /** Seed rule minus its hole: "admin" needs an admin actor, except for the very first account. */
    async signup(input: SignupInput, actor: UserRecord | undefined): Promise<UserRecord> {
      const role = input.role ?? "user";
      if (role === "admin" && actor?.role !== "admin" && (await store.countUsers()) > 0) {
        throw new AppError("ADMIN_SIGNUP_FORBIDDEN");
      }
      // The seed checks the username before the email; keep its order of answers.
      if (await store.findUserByUsername(input.username)) throw new AppError("USERNAME_TAKEN");
      if (await store.findUserByEmail(input.email)) throw new AppError("EMAIL_TAKEN");
      const passwordHash = await passwords.hash(input.password);
      try {
        return await store.createUser({
          username: input.username,
          email: input.email,
          passwordHash,
          role,
          createdAt: new Date(clock()),
        });
      } catch (error) {
        if (error instanceof ConflictError) {
          throw new AppError(error.field === "email" ? "EMAIL_TAKEN" : "USERNAME_TAKEN");
        }
        throw error;
      }
    },

    /** `address` is the client's IP when known; throttled per username and per address (see rate-limit.ts). */
    async login(username: string, password: string, address = UNKNOWN_ADDRESS): Promise<string> {
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
      return tokens.sign({ sub: user.username, role: user.role, ver: user.tokenVersion });
    },

    /** Every token issued to this user so far stops working. */
    async logout(user: UserRecord): Promise<void> {
      await revoked(await store.bumpTokenVersion(user.id));
    },

    listUsers: () => store.listUsers(),

    async setRole(id: number, role: Role): Promise<UserRecord> {
      const user = await revoked(await store.setUserRole(id, role));
      if (!user) throw new AppError("USER_NOT_FOUND");
      return user;
    },
  };
}
