// A read-through cache for data that changes through events this process hears: its own writes, and other
// instances' through the fanout bus. Values sit in groups (a room's pages; a user), and a change drops a whole
// group. A value read from the database is kept only when nothing touched its group since the read began, so a
// slow read can never put back what a write just replaced. Changes made behind the server's back (SQL by hand)
// are seen once a value's `ttlMs` has passed. While `enabled()` is false (the bus is not listening, so other
// instances' changes would go unheard) every read goes to the database.
import type { Clock } from "./clock.ts";

export interface CacheOptions<V> {
  /**
   * The most the cache holds, as the sum of `weigh` over its values (default weight 1: a count). One more drops
   * everything (simple, and each value comes back with one read); a value heavier than this is not kept.
   */
  capacity: number;
  weigh?: (value: V) => number;
  ttlMs: number;
  clock: Clock;
  enabled: () => boolean;
}

export type Cache<G, K, V> = ReturnType<typeof createCache<G, K, V>>;

export function createCache<G, K, V>(options: CacheOptions<V>) {
  const { clock } = options;
  const weigh = options.weigh ?? (() => 1);
  const groups = new Map<G, Map<K, { value: V; weight: number; expiresAt: number }>>();
  /** The sum of the kept values' weights. */
  let size = 0;
  /** Counts changes; a read remembers it when it starts. */
  let generation = 0;
  let clearedAt = 0;
  /** When each group last changed, kept only while some read is in flight (the only time it matters). */
  const changedAt = new Map<G, number>();
  let reading = 0;

  function clear(): void {
    clearedAt = ++generation;
    groups.clear();
    changedAt.clear();
    size = 0;
  }

  return {
    /** The cached value, or `load()`'s (kept unless undefined). */
    async read(group: G, key: K, load: () => Promise<V>): Promise<V> {
      if (!options.enabled()) return load();
      const values = groups.get(group);
      const hit = values?.get(key);
      if (hit !== undefined) {
        if (hit.expiresAt > clock()) return hit.value;
        values!.delete(key);
        size -= hit.weight;
      }
      const startedAt = generation;
      reading++;
      try {
        const value = await load();
        const unchanged = startedAt >= clearedAt && (changedAt.get(group) ?? 0) <= startedAt;
        const weight = value === undefined ? 0 : weigh(value);
        if (value !== undefined && unchanged && options.enabled() && weight <= options.capacity) {
          if (size + weight > options.capacity) clear();
          let kept = groups.get(group);
          if (!kept) groups.set(group, (kept = new Map()));
          size += weight - (kept.get(key)?.weight ?? 0);
          kept.set(key, { value, weight, expiresAt: clock() + options.ttlMs });
        }
        return value;
      } finally {
        if (--reading === 0) changedAt.clear();
      }
    },

    /** The group changed: its values go, and reads already under way do not put theirs back. */
    invalidate(group: G): void {
      const values = groups.get(group);
      if (values) {
        for (const { weight } of values.values()) size -= weight;
        groups.delete(group);
      }
      generation++;
      if (reading > 0) changedAt.set(group, generation);
    },

    clear,

    get size() {
      return size;
    },
  };
}
