// Messages per user: one token bucket per user id, shared by all their sockets and HTTP posts on this instance.
import type { Clock } from "../clock.ts";

export type MessageRateLimit = ReturnType<typeof createMessageRateLimit>;

export function createMessageRateLimit(options: { perSecond: number; burst: number; clock: Clock }) {
  const { perSecond, burst, clock } = options;
  const buckets = new Map<number, { tokens: number; at: number }>();
  // A bucket left alone this long is full again, which is what a missing bucket means.
  const refillMs = (burst / perSecond) * 1000;
  let nextSweep = 0;

  /** Runs only when a bucket is added, so the map follows recent senders at an amortised O(1) per message. */
  function sweep(now: number): void {
    if (now < nextSweep) return;
    nextSweep = now + Math.max(refillMs, 1000);
    for (const [userId, bucket] of buckets) if (now - bucket.at >= refillMs) buckets.delete(userId);
  }

  return {
    /** What a refused sender is told. */
    detail: `At most ${perSecond} messages per second per user (bursts of ${burst})`,
    /** Spends one message of the user's budget: 0 when it may go now, else the seconds until one may. */
    take(userId: number): number {
      const now = clock();
      let bucket = buckets.get(userId);
      if (bucket === undefined) {
        sweep(now);
        buckets.set(userId, (bucket = { tokens: burst, at: now }));
      } else {
        bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * perSecond);
        bucket.at = now;
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
    },
  };
}
