// The store contract on PostgreSQL (DATABASE_URL=postgres://...), and what only PostgreSQL does. Without
// DATABASE_URL these tests show as skipped, with the reason in their name.
import { describe, expect, test } from "bun:test";
import { isStoreUnavailable } from "../src/store/store.ts";
import { storeContract } from "./store-contract.ts";
import { dialect, openTestStore, postgresOnly } from "./support.ts";

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);

describe.skipIf(dialect !== "postgres")(postgresOnly("the store contract"), () => storeContract("postgres"));

// A statement PostgreSQL does not answer (here: a lock held by another session) must not leave its senders waiting.
describe.skipIf(dialect !== "postgres")(postgresOnly("a message batch PostgreSQL does not answer"), () => {
  test("is refused as unavailable after 5 s, cancelled so that it never commits, and the next batch is stored", async () => {
    const own = await openTestStore();
    const postgres = (await import("postgres")).default;
    const locker = postgres(own.scratchUrl!, { max: 1, onnotice: () => {} });
    try {
      const user = await own.createUser({
        username: "ann",
        email: "ann@example.com",
        passwordHash: "h",
        role: "user",
        createdAt: at(0),
      });
      const lockRoom = await own.createRoom({ name: "locked", description: null, createdAt: at(1) });
      const draft = (content: string) => ({
        roomId: lockRoom.id,
        userId: user.id,
        content,
        clientId: content,
        createdAt: at(2),
      });
      // The batch statement is prepared on its connection first, so that the locked one is sent whole.
      await own.insertMessages([draft("before the lock")]);
      const locked = Promise.withResolvers<void>();
      const release = Promise.withResolvers<void>();
      const holding = locker.begin(async (tx) => {
        await tx`LOCK TABLE messages IN ACCESS EXCLUSIVE MODE`;
        locked.resolve();
        await release.promise;
      });
      await locked.promise;
      const started = performance.now();
      const refused = await own.insertMessages([draft("while locked")]).then(
        () => undefined,
        (error: unknown) => error,
      );
      const waited = performance.now() - started;
      release.resolve();
      await holding;
      expect(isStoreUnavailable(refused)).toBe(true);
      expect(waited).toBeGreaterThanOrEqual(5000);
      const [after] = await own.insertMessages([draft("after the lock")]);
      expect(after!.duplicate).toBe(false);
      // Had the refused INSERT not been cancelled, it would have committed as soon as the lock went.
      await Bun.sleep(200);
      expect((await own.listMessages(lockRoom.id, { limit: 10, skip: 0 })).map((m) => m.content)).toEqual([
        "after the lock",
        "before the lock",
      ]);
    } finally {
      await locker.end();
      await own.dispose();
    }
  }, 20_000);
});
