// Login throttling: failed logins counted per username and per client address in fixed windows; 429 past a limit.
import type { Clock } from "../clock.ts";
import { AppError } from "../errors.ts";

export const LOGIN_LIMITS = {
  /** Failed logins for one username per window; the next attempt gets 429. A successful login clears them. */
  usernameFailures: 10,
  usernameWindowMs: 5 * 60_000,
  /**
   * Failed logins from one client address per window; successes neither count nor clear it (so a load
   * generator, or an office behind one NAT address, can log many people in; a guesser cannot guess on).
   */
  addressFailures: 30,
  addressWindowMs: 60_000,
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

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;

export function createLoginThrottle(clock: Clock, limits = LOGIN_LIMITS) {
  const usernames = createWindowCounter({ limit: limits.usernameFailures, windowMs: limits.usernameWindowMs, clock });
  const addresses = createWindowCounter({ limit: limits.addressFailures, windowMs: limits.addressWindowMs, clock });
  return {
    /**
     * Refuses with RATE_LIMITED when either budget is spent; otherwise counts the attempt as a failure up front,
     * so that concurrent guesses cannot all pass the check before the first one's bcrypt finishes.
     */
    begin(username: string, address: string): void {
      const wait = Math.max(usernames.retryAfter(username), addresses.retryAfter(address));
      if (wait > 0) {
        throw new AppError("RATE_LIMITED", {
          detail: `Too many failed logins; try again in ${wait} seconds`,
          headers: { "retry-after": String(wait) },
        });
      }
      usernames.add(username);
      addresses.add(address);
    },
    /** The attempt begun for this username and address succeeded. */
    succeeded(username: string, address: string): void {
      usernames.clear(username);
      addresses.add(address, -1);
    },
  };
}
