// Accounts: signup with the admin rule, login, token checks against the stored user, logout and role changes.
import type { Cache } from "../cache.ts";
import type { Clock } from "../clock.ts";
import { AppError } from "../errors.ts";
import { isStorableText } from "../messages/model.ts";
import { ConflictError, LastAdminError, type NewUser, type Role, type Store, type UserRecord } from "../store/store.ts";
import { TokenError, type TokenCodec } from "./jwt.ts";
import type { PasswordHasher } from "./password.ts";
import { createHashQueue, createLoginThrottle, createSignupThrottle, UNKNOWN_ADDRESS } from "./rate-limit.ts";

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
  /** Told when a user's earlier tokens stop working (logout, role change), so live sockets can close. */
  onRevoke?: (userId: number) => void;
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
  const revoked = (user: UserRecord | undefined) => {
    if (user) deps.onRevoke?.(user.id);
    return user;
  };

  /** The user a token speaks for and when the token expires, or AppError INVALID_TOKEN with the reason. */
  async function authenticateSession(token: string): Promise<{ user: UserRecord; expiresAt: number }> {
    let claims;
    try {
      claims = await tokens.verify(token);
    } catch (error) {
      if (error instanceof TokenError) throw new AppError("INVALID_TOKEN", { reason: error.code });
      throw error;
    }
    const id = accountId(claims.sub);
    const user =
      id === undefined ? undefined : deps.users ? await deps.users.read(id, 0, () => store.findUserById(id)) : await store.findUserById(id);
    // A deleted user (or a token naming an account the old way, by username), or a token from before a logout or
    // role change, is no longer valid.
    if (!user || user.tokenVersion !== claims.ver) {
      throw new AppError("INVALID_TOKEN", { reason: "TOKEN_REVOKED" });
    }
    return { user, expiresAt: claims.exp * 1000 };
  }

  return {
    authenticateSession,
    authenticate: async (token: string): Promise<UserRecord> => (await authenticateSession(token)).user,

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
      return tokens.sign({ sub: String(user.id), role: user.role, ver: user.tokenVersion });
    },

    /** Every token issued to this user so far stops working. */
    async logout(user: UserRecord): Promise<void> {
      revoked(await store.bumpTokenVersion(user.id));
    },

    /** Whether anyone can still sign up as admin (no admin yet): what /chat and the start-up log tell a new user. */
    adminExists: () => store.hasAdmin(),

    listUsers: () => store.listUsers(),

    /** Refused with LAST_ADMIN (409) when it would leave no admin. */
    async setRole(id: number, role: Role): Promise<UserRecord> {
      const user = revoked(
        await store.setUserRole(id, role).catch((error: unknown) => {
          throw error instanceof LastAdminError ? new AppError("LAST_ADMIN") : error;
        }),
      );
      if (!user) throw new AppError("USER_NOT_FOUND");
      return user;
    },
  };
}
