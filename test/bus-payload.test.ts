// The `messages` bus event as PostgreSQL builds it (messagesEventSql in src/realtime/bus.ts, sent by the message
// batch's INSERT): real payloads, parsed and compared with the BusEvent each must be.
import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { NOTIFY_CHANNEL, type BusEvent } from "../src/realtime/bus.ts";
import { dialect, openTestStore, postgresOnly } from "./support.ts";

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);

describe.skipIf(dialect !== "postgres")(postgresOnly("the messages event a batch notifies"), () => {
  test("is the BusEvent of its stored messages: kind, origin, (room, id) pairs in id order; resends are left out", async () => {
    const store = await openTestStore();
    const listener = postgres(store.scratchUrl!, { max: 1, onnotice: () => {} });
    try {
      const payloads: string[] = [];
      let heard = () => {};
      await listener.listen(NOTIFY_CHANNEL, (payload) => {
        payloads.push(payload);
        heard();
      });
      const received = (count: number) =>
        new Promise<void>((resolve) => {
          heard = () => payloads.length >= count && resolve();
          heard();
        });
      const user = await store.createUser({
        username: "ann",
        email: "ann@example.com",
        passwordHash: "h",
        role: "user",
        createdAt: at(0),
      });
      const [one, two] = [
        await store.createRoom({ name: "one", description: null, createdAt: at(1) }),
        await store.createRoom({ name: "two", description: null, createdAt: at(2) }),
      ];
      const draft = (roomId: number, clientId: string) => ({
        roomId,
        userId: user.id,
        content: clientId,
        clientId,
        createdAt: at(3),
      });
      const first = await store.insertMessages([draft(one.id, "a"), draft(two.id, "b"), draft(one.id, "c")]);
      // Only resends: nothing stored, nothing announced (a notification from it would come before the next one's).
      const resent = await store.insertMessages([draft(one.id, "a")]);
      const mixed = await store.insertMessages([draft(two.id, "b"), draft(two.id, "d")]);
      await received(2);
      await Bun.sleep(100); // for any notification more than the two expected

      expect(resent.map((s) => s.duplicate)).toEqual([true]);
      expect(mixed.map((s) => s.duplicate)).toEqual([true, false]);
      // Typed: the expectation is a BusEvent, so a payload that parses equal to it is one.
      const origin = store.instanceId!;
      const expected: BusEvent[] = [
        {
          kind: "messages",
          origin,
          items: [
            [one.id, first[0]!.record.id],
            [two.id, first[1]!.record.id],
            [one.id, first[2]!.record.id],
          ],
        },
        { kind: "messages", origin, items: [[two.id, mixed[1]!.record.id]] },
      ];
      expect(payloads.map((p) => JSON.parse(p))).toStrictEqual(expected);
    } finally {
      await listener.end();
      await store.dispose();
    }
  });
});
