// Login and signup throttling: failures counted per (username, address), per address and per username in fixed
// windows; signups per address; signup hashing bounded. Refusals are 429 (503 for a full hash queue) with Retry-After.
import { availableParallelism } from "node:os";
import type { Clock } from "../clock.ts";
import { AppError } from "../errors.ts";

export const LOGIN_LIMITS = {
  /** Failed logins for one username from one address per window; the next attempt gets 429. A success clears them. */
  pairFailures: 10,
  pairWindowMs: 5 * 60_000,
  /**
   * Failed logins from one client address per window; successes neither count nor clear it (so a load
   * generator, or an office behind one NAT address, can log many people in; a guesser cannot guess on).
   */
  addressFailures: 30,
  addressWindowMs: 60_000,
  /**
   * Failed logins for one username from all addresses per window. Past it the username is slowed, never locked:
   * one attempt per slowIntervalMs, except from an address the user logged in from (so strangers cannot keep
   * the owner out, and a guesser spread over many addresses still gets one guess a second).
   */
  usernameFailures: 10,
  usernameWindowMs: 5 * 60_000,
  slowIntervalMs: 1000,
  /** How long a successful login keeps its address exempt from the slowdown, and how many such pairs are kept. */
  knownAddressMs: 30 * 24 * 3600_000,
  knownAddresses: 100_000,
} as const;

/** Signups per address are counted in windows of this length (the limit is Limits.signupsPerAddress). */
export const SIGNUP_WINDOW_MS = 10 * 60_000;

export const SIGNUP_HASHING = {
  /**
   * bcrypt hashes for signups at once: half the cores, so logins (which verify, with bcrypt too) keep the other
   * half. On 2 cores one slot kept a login under a 40-signup flood at 0.1-0.25 s, two slots at 0.16-0.43 s, and
   * no bound let it reach 1.6-4.4 s (bench/signup-flood.ts; docs/reliability.md).
   */
  concurrent: Math.max(1, Math.floor(availableParallelism() / 2)),
  /** Signups waiting for a slot (on 2 cores at cost 10, about 4 s); past this, 503 SIGNUP_BUSY with Retry-After. */
  waiting: 50,
  retryAfterSeconds: 1,
} as const;

/** The address key when there is no socket to ask (app.handle): every such caller shares one budget. */
export const UNKNOWN_ADDRESS = "unknown";

interface Window {
  count: number;
  resetAt: number;
}

/** Fixed-window counters by key. Expired windows are swept at most once per window, so memory follows recent use. */
export function createWindowCounter(options: { limit: number; windowMs: number; clock: Clock }) {
  const { limit, windowMs, clock } = options;
  const windows = new Map<string, Window>();
  let nextSweep = 0;

  function sweep(now: number): void {
    if (now < nextSweep) return;
    nextSweep = now + windowMs;
    for (const [key, window] of windows) if (window.resetAt <= now) windows.delete(key);
  }

  return {
    /** Seconds until `key` may try again; 0 when it may now. */
    retryAfter(key: string): number {
      const window = windows.get(key);
      const now = clock();
      if (!window || window.resetAt <= now || window.count < limit) return 0;
      return Math.max(1, Math.ceil((window.resetAt - now) / 1000));
    },
    add(key: string, n = 1): void {
      const now = clock();
      sweep(now);
      const window = windows.get(key);
      if (!window || window.resetAt <= now) windows.set(key, { count: Math.max(0, n), resetAt: now + windowMs });
      else window.count = Math.max(0, window.count + n);
    },
    clear(key: string): void {
      windows.delete(key);
    },
  };
}

const rateLimited = (detail: string, seconds: number) =>
  new AppError("RATE_LIMITED", {
    detail: `${detail}; try again in ${seconds} seconds`,
    headers: { "retry-after": String(seconds) },
  });

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;

export function createLoginThrottle(clock: Clock, limits = LOGIN_LIMITS) {
  const pairs = createWindowCounter({ limit: limits.pairFailures, windowMs: limits.pairWindowMs, clock });
  const addresses = createWindowCounter({ limit: limits.addressFailures, windowMs: limits.addressWindowMs, clock });
  const usernames = createWindowCounter({ limit: limits.usernameFailures, windowMs: limits.usernameWindowMs, clock });
  const slowed = createWindowCounter({ limit: 1, windowMs: limits.slowIntervalMs, clock });
  /** Pair key -> until when that address may skip its username's slowdown; oldest first, for eviction. */
  const known = new Map<string, number>();
  // Addresses are IPs or UNKNOWN_ADDRESS and never hold "|", so the key names one pair.
  const pairKey = (username: string, address: string) => `${address}|${username}`;
  // Login takes any case, so every spelling of a name shares its budgets (toLowerCase folds at least what the
  // databases' lower() does).
  const nameKey = (username: string) => username.toLowerCase();

  return {
    /**
     * Refuses with RATE_LIMITED when a budget is spent; otherwise counts the attempt as a failure up front,
     * so that concurrent guesses cannot all pass the check before the first one's bcrypt finishes.
     */
    begin(typed: string, address: string): void {
      const username = nameKey(typed);
      const pair = pairKey(username, address);
      const wait = Math.max(pairs.retryAfter(pair), addresses.retryAfter(address));
      if (wait > 0) throw rateLimited("Too many failed logins", wait);
      const slow = usernames.retryAfter(username) > 0 && !((known.get(pair) ?? 0) > clock());
      if (slow) {
        const next = slowed.retryAfter(username);
        if (next > 0) throw rateLimited("Too many failed logins for this username", next);
        slowed.add(username);
      }
      pairs.add(pair);
      addresses.add(address);
      usernames.add(username);
    },
    /** The attempt begun for this username and address succeeded. */
    succeeded(typed: string, address: string): void {
      const username = nameKey(typed);
      const pair = pairKey(username, address);
      pairs.clear(pair);
      addresses.add(address, -1);
      usernames.add(username, -1);
      known.delete(pair);
      known.set(pair, clock() + limits.knownAddressMs);
      if (known.size > limits.knownAddresses) known.delete(known.keys().next().value!);
    },
  };
}

/** Signups per client address. */
export function createSignupThrottle(clock: Clock, perAddress: number) {
  const addresses = createWindowCounter({ limit: perAddress, windowMs: SIGNUP_WINDOW_MS, clock });
  return {
    /** Counts a signup from `address`, or refuses it with RATE_LIMITED when the address's budget is spent. */
    take(address: string): void {
      if (perAddress === 0) return;
      const wait = addresses.retryAfter(address);
      if (wait > 0) throw rateLimited("Too many signups from this address", wait);
      addresses.add(address);
    },
  };
}

/** Runs `hash` at most `concurrent` at a time; callers past the slots wait in order, past `waiting` are refused. */
export function createHashQueue(hash: (password: string) => Promise<string>, limits = SIGNUP_HASHING) {
  let running = 0;
  const queue: (() => void)[] = [];
  return {
    async hash(password: string): Promise<string> {
      if (running < limits.concurrent) running++;
      else if (queue.length < limits.waiting) await new Promise<void>((resolve) => queue.push(resolve));
      else throw new AppError("SIGNUP_BUSY", { headers: { "retry-after": String(limits.retryAfterSeconds) } });
      try {
        return await hash(password);
      } finally {
        // The slot passes straight to the next in line, so `running` never drops below what is really running.
        const next = queue.shift();
        if (next) next();
        else running--;
      }
    },
  };
}
