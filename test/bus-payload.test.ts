// The `messages` bus events as PostgreSQL builds them (messagesNotifySql in src/realtime/bus.ts, sent by the message
// batch's INSERT): real payloads, parsed and compared with the BusEvent each must be.
import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { NOTIFY_CHANNEL, type BusEvent, type BusMessage } from "../src/realtime/bus.ts";
import { dialect, openTestStore, postgresOnly } from "./support.ts";

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);

describe.skipIf(dialect !== "postgres")(postgresOnly("the messages event a batch notifies"), () => {
  test("is the BusEvent of its stored messages: kind, origin, each message whole in id order; resends are left out", async () => {
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
      const whole = (roomId: number, id: number, clientId: string): BusMessage => [
        roomId,
        id,
        user.id,
        "ann",
        clientId,
        clientId,
        at(3).getTime(),
      ];
      const expected: BusEvent[] = [
        {
          kind: "messages",
          origin,
          items: [
            whole(one.id, first[0]!.record.id, "a"),
            whole(two.id, first[1]!.record.id, "b"),
            whole(one.id, first[2]!.record.id, "c"),
          ],
        },
        { kind: "messages", origin, items: [whole(two.id, mixed[1]!.record.id, "d")] },
      ];
      expect(payloads.map((p) => JSON.parse(p))).toStrictEqual(expected);
    } finally {
      await listener.end();
      await store.dispose();
    }
  });

  test("a long message travels as (room, id); a big batch is cut into payloads under 8,000 bytes, in id order", async () => {
    const store = await openTestStore();
    const listener = postgres(store.scratchUrl!, { max: 1, onnotice: () => {} });
    try {
      const payloads: string[] = [];
      await listener.listen(NOTIFY_CHANNEL, (payload) => void payloads.push(payload));
      const user = await store.createUser({
        username: "bea",
        email: "bea@example.com",
        passwordHash: "h",
        role: "user",
        createdAt: at(0),
      });
      const room = await store.createRoom({ name: "big", description: null, createdAt: at(1) });
      // 4,000 characters of quotes: 8,000 bytes once escaped in JSON, and 4,000 three-byte characters.
      const contents = [
        '"'.repeat(4000),
        "€".repeat(4000),
        ...Array.from({ length: 300 }, (_, n) => `message ${n} `.repeat(10)),
      ];
      const stored = await store.insertMessages(
        contents.map((content) => ({ roomId: room.id, userId: user.id, content, clientId: null, createdAt: at(2) })),
      );
      const ids = stored.map((s) => s.record.id);
      const items = () => payloads.flatMap((p) => (JSON.parse(p) as Extract<BusEvent, { kind: "messages" }>).items);
      while (items().length < ids.length) await Bun.sleep(10);

      expect(payloads.length).toBeGreaterThan(1);
      for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThan(8000);
      expect(items().map((item) => item[1])).toEqual(ids);
      expect(items().slice(0, 2)).toEqual([
        [room.id, ids[0]!],
        [room.id, ids[1]!],
      ]);
      expect(items()[2]).toEqual([room.id, ids[2]!, user.id, "bea", contents[2]!, null, at(2).getTime()]);
    } finally {
      await listener.end();
      await store.dispose();
    }
  });
});
