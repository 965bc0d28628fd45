// The read cache behind history pages and token checks: what it keeps, and what it must never put back.
import { describe, expect, test } from "bun:test";
import { createCache } from "../src/cache.ts";
import { testClock } from "./support.ts";

function setUp(options: { capacity?: number; weigh?: (v: string) => number; enabled?: () => boolean } = {}) {
  const clock = testClock();
  const cache = createCache<number, string, string>({
    capacity: options.capacity ?? 10,
    weigh: options.weigh,
    ttlMs: 1000,
    clock,
    enabled: options.enabled ?? (() => true),
  });
  let loads = 0;
  const read = (group: number, key: string, value = `${group}/${key}`) =>
    cache.read(group, key, async () => {
      loads++;
      return value;
    });
  return { cache, clock, read, loads: () => loads };
}

describe("read cache", () => {
  test("a value is read from the database once, until its group changes or it expires", async () => {
    const { cache, clock, read, loads } = setUp();
    expect(await read(1, "a")).toBe("1/a");
    expect(await read(1, "a", "new")).toBe("1/a");
    expect(loads()).toBe(1);
    cache.invalidate(1);
    expect(await read(1, "a", "new")).toBe("new");
    clock.advance(999);
    expect(await read(1, "a", "newer")).toBe("new");
    clock.advance(1);
    expect(await read(1, "a", "newer")).toBe("newer");
    expect(loads()).toBe(3);
  });

  test("a read that began before a change does not put back what the change replaced", async () => {
    const { cache, read } = setUp();
    const slow = Promise.withResolvers<string>();
    const before = cache.read(1, "a", () => slow.promise);
    cache.invalidate(1); // the write commits while the read is under way
    slow.resolve("stale");
    expect(await before).toBe("stale"); // that caller sees what it read...
    expect(await read(1, "a", "fresh")).toBe("fresh"); // ...but the next one reads again

    const slowToo = Promise.withResolvers<string>();
    const beforeClear = cache.read(2, "b", () => slowToo.promise);
    cache.clear();
    slowToo.resolve("stale");
    await beforeClear;
    expect(await read(2, "b", "fresh")).toBe("fresh");
  });

  test("a change to another group leaves this one alone; undefined is never kept", async () => {
    const { cache, read, loads } = setUp();
    await read(1, "a");
    cache.invalidate(2);
    await read(1, "a");
    expect(loads()).toBe(1);
    const missing = await cache.read(3, "x", async () => undefined as unknown as string);
    expect(missing).toBeUndefined();
    expect(cache.size).toBe(1);
  });

  test("while disabled (bus not listening) every read goes to the database and nothing is kept", async () => {
    let enabled = true;
    const { cache, read, loads } = setUp({ enabled: () => enabled });
    await read(1, "a");
    enabled = false;
    expect(await read(1, "a", "live")).toBe("live");
    expect(await read(1, "a", "live")).toBe("live");
    expect(loads()).toBe(3);
    expect(cache.size).toBe(1); // the old value stays but is not served; the bus's reconnect clears it
  });

  test("past its capacity everything is dropped, so memory stays bounded", async () => {
    const { cache, read } = setUp({ capacity: 3 });
    for (const key of ["a", "b", "c"]) await read(1, key);
    expect(cache.size).toBe(3);
    await read(2, "d");
    expect(cache.size).toBe(1);
  });

  test("with a weight (bytes), a value heavier than the capacity is served but not kept", async () => {
    const { cache, read, loads } = setUp({ capacity: 10, weigh: (v) => v.length });
    await read(1, "a", "12345");
    await read(1, "b", "123456");
    expect(cache.size).toBe(6); // 5 + 6 > 10: the first went with everything else
    expect(await read(2, "big", "x".repeat(11))).toHaveLength(11);
    expect(await read(2, "big", "x".repeat(11))).toHaveLength(11);
    expect(loads()).toBe(4);
    expect(cache.size).toBe(6);
    cache.invalidate(1);
    expect(cache.size).toBe(0);
  });
});
