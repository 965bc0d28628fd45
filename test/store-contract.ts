// The Store contract: one suite, which test/store-sqlite.test.ts and test/store-postgres.test.ts each run on
// their database, unchanged.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { toMessageJson } from "../src/messages/model.ts";
import {
  ConflictError,
  isStoreUnavailable,
  LastAdminError,
  MissingReferenceError,
  type RoomRecord,
  type UserRecord,
} from "../src/store/store.ts";
import { openTestStore, type TestStore } from "./support.ts";

export function storeContract(kind: "sqlite" | "postgres"): void {
  let store: TestStore;
  let alice: UserRecord;
  let bob: UserRecord;
  let room: RoomRecord;
  const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);

  beforeAll(async () => {
    store = await openTestStore(kind);
    alice = await store.createUser({
      username: "alice",
      email: "alice@example.com",
      passwordHash: "h1",
      role: "admin",
      createdAt: at(0),
    });
    bob = await store.createUser({
      username: "bob",
      email: "bob@example.com",
      passwordHash: "h2",
      role: "user",
      createdAt: at(1),
    });
    room = await store.createRoom({ name: "general", description: null, createdAt: at(2) });
  });
  afterAll(() => store.dispose());

  describe(`store contract (${kind})`, () => {
    test("users are found by id, username and email, and counted", async () => {
      expect(await store.countUsers()).toBe(2);
      expect((await store.findUserById(alice.id))?.username).toBe("alice");
      expect((await store.findUserByUsername("bob"))?.id).toBe(bob.id);
      expect((await store.findUserByEmail("alice@example.com"))?.id).toBe(alice.id);
      expect(await store.findUserByUsername("nobody")).toBeUndefined();
      expect((await store.listUsers()).map((u) => u.username)).toEqual(["alice", "bob"]);
    });

    test("hasAdmin: true while anyone holds the admin role; the last admin cannot be demoted", async () => {
      expect(await store.hasAdmin()).toBe(true);
      await store.setUserRole(bob.id, "admin");
      await store.setUserRole(alice.id, "user");
      expect(await store.hasAdmin()).toBe(true);
      await expect(store.setUserRole(bob.id, "user")).rejects.toBeInstanceOf(LastAdminError);
      await store.setUserRole(alice.id, "admin");
      await store.setUserRole(bob.id, "user");
      expect((await store.listUsers()).filter((u) => u.role === "admin").map((u) => u.username)).toEqual(["alice"]);
    });

    test("duplicate username and email are ConflictErrors naming the field", async () => {
      const base = { passwordHash: "h", role: "user" as const, createdAt: at(3) };
      expect(store.createUser({ ...base, username: "alice", email: "new@example.com" })).rejects.toEqual(
        new ConflictError("username"),
      );
      expect(store.createUser({ ...base, username: "carol", email: "bob@example.com" })).rejects.toEqual(
        new ConflictError("email"),
      );
    });

    test("timestamps keep milliseconds", async () => {
      const user = await store.findUserById(bob.id);
      expect(user?.createdAt.getTime()).toBe(at(1).getTime());
    });

    test("role changes and logouts bump the token version", async () => {
      const before = (await store.findUserById(bob.id))!.tokenVersion;
      const promoted = await store.setUserRole(bob.id, "admin");
      expect(promoted).toMatchObject({ role: "admin", tokenVersion: before + 1 });
      const bumped = await store.bumpTokenVersion(bob.id);
      expect(bumped?.tokenVersion).toBe(before + 2);
      await store.setUserRole(bob.id, "user");
      expect(await store.setUserRole(999_999, "admin")).toBeUndefined();
    });

    test("rooms: unique names, listing, lookup", async () => {
      expect(store.createRoom({ name: "general", description: "again", createdAt: at(4) })).rejects.toEqual(
        new ConflictError("name"),
      );
      const other = await store.createRoom({ name: "other", description: "desc", createdAt: at(5) });
      expect((await store.listRooms()).map((r) => r.name)).toEqual(["general", "other"]);
      expect(await store.findRoom(other.id)).toMatchObject({ name: "other", description: "desc" });
      expect(await store.findRoom(999_999)).toBeUndefined();
    });

    test("a batch is stored in order, with ids in input order and millisecond timestamps", async () => {
      const batch = Array.from({ length: 5 }, (_, i) => ({
        roomId: room.id,
        userId: i % 2 ? bob.id : alice.id,
        content: `m${i}`,
        clientId: null,
        createdAt: at(100 + i),
      }));
      const stored = await store.insertMessages(batch);
      expect(stored.map((s) => s.record.content)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
      expect(stored.every((s) => !s.duplicate)).toBe(true);
      const ids = stored.map((s) => s.record.id);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      expect(stored[3]!.record.createdAt.getTime()).toBe(at(103).getTime());
    });

    test("a resent client_id returns the first record and stores nothing, also within one batch", async () => {
      const draft = { roomId: room.id, userId: alice.id, content: "once", clientId: "c-1", createdAt: at(200) };
      const [first] = await store.insertMessages([draft]);
      const again = await store.insertMessages([
        { ...draft, content: "twice" },
        { ...draft, clientId: "c-2" },
        { ...draft, clientId: "c-2" },
      ]);
      expect(first!.duplicate).toBe(false);
      expect(again[0]).toEqual({ record: first!.record, duplicate: true });
      expect(again[1]!.duplicate).toBe(false);
      expect(again[2]).toEqual({ record: again[1]!.record, duplicate: true });
      // Another user may use the same client_id.
      const [bobs] = await store.insertMessages([{ ...draft, userId: bob.id }]);
      expect(bobs!.duplicate).toBe(false);
      const page = await store.listMessages(room.id, { limit: 100, skip: 0 });
      expect(page.filter((m) => m.clientId === "c-1")).toHaveLength(2);
    });

    test("every record a batch returns is the row it made, with or without resends among messages with and without client_ids", async () => {
      const m = (content: string, clientId: string | null) => ({
        roomId: room.id,
        userId: alice.id,
        content,
        clientId,
        createdAt: at(250),
      });
      const [old] = await store.insertMessages([m("old", "mix-old")]);
      for (const batch of [
        [m("a", null), m("b", "mix-b"), m("c", null), m("d", "mix-d")],
        [
          m("e", null),
          m("old again", "mix-old"),
          m("f", "mix-f"),
          m("g", null),
          m("b again", "mix-b"),
          m("h", "mix-h"),
        ],
      ]) {
        const stored = await store.insertMessages(batch);
        for (const [i, s] of stored.entries()) {
          const row = await store.findMessage(s.record.id);
          expect({ content: row?.content, clientId: row?.clientId }).toEqual({
            content: s.record.content,
            clientId: batch[i]!.clientId,
          });
          expect(s.duplicate).toBe(s.record.content !== batch[i]!.content);
        }
        const fresh = stored.filter((s) => !s.duplicate).map((s) => s.record.id);
        expect([...fresh].sort((a, b) => a - b)).toEqual(fresh);
      }
      expect((await store.findMessage(old!.record.id))?.content).toBe("old");
    });

    test("edits and deletes are logged, oldest first, where several instances share the store (PostgreSQL); SQLite serves one and keeps none", async () => {
      const since = new Date(Date.now() - 1000);
      const [a, b] = await store.insertMessages([
        { roomId: room.id, userId: alice.id, content: "log a", clientId: null, createdAt: at(400) },
        { roomId: room.id, userId: alice.id, content: "log b", clientId: null, createdAt: at(401) },
      ]);
      expect((await store.updateMessage(a!.record.id, "log a, edited", at(402)))?.content).toBe("log a, edited");
      expect(await store.deleteMessage(b!.record.id)).toBe(true);
      expect(await store.deleteMessage(b!.record.id)).toBe(false);
      if (kind === "sqlite") return void expect(store.changesSince).toBeUndefined();
      const logged = (await store.changesSince!(since)).filter(
        (c) => c.messageId === a!.record.id || c.messageId === b!.record.id,
      );
      expect(logged).toEqual([
        { roomId: room.id, messageId: a!.record.id, kind: "updated" },
        { roomId: room.id, messageId: b!.record.id, kind: "deleted" },
      ]);
      expect(await store.changesSince!(new Date(Date.now() + 60_000))).toEqual([]);
    });

    test("a batch naming a missing room stores nothing", async () => {
      const before = await store.listMessages(room.id, { limit: 100, skip: 0 });
      const batch = [
        { roomId: room.id, userId: alice.id, content: "ok", clientId: null, createdAt: at(300) },
        { roomId: 999_999, userId: alice.id, content: "lost room", clientId: null, createdAt: at(301) },
      ];
      expect(store.insertMessages(batch)).rejects.toBeInstanceOf(MissingReferenceError);
      expect(await store.listMessages(room.id, { limit: 100, skip: 0 })).toHaveLength(before.length);
    });

    test("a batch naming a missing author stores nothing", async () => {
      const before = await store.listMessages(room.id, { limit: 100, skip: 0 });
      const batch = [
        { roomId: room.id, userId: alice.id, content: "ok", clientId: null, createdAt: at(302) },
        { roomId: room.id, userId: 999_999, content: "nobody", clientId: null, createdAt: at(303) },
      ];
      expect(store.insertMessages(batch)).rejects.toBeInstanceOf(MissingReferenceError);
      expect(await store.listMessages(room.id, { limit: 100, skip: 0 })).toHaveLength(before.length);
    });

    test("messages written while their room is deleted are refused or deleted with it, never left behind", async () => {
      for (let round = 0; round < 5; round++) {
        const doomed = await store.createRoom({ name: `doomed-${round}`, description: null, createdAt: at(310) });
        const writes = Array.from({ length: 20 }, (_, i) =>
          store
            .insertMessages([
              { roomId: doomed.id, userId: bob.id, content: `m${i}`, clientId: null, createdAt: at(311) },
            ])
            .then(
              () => "stored",
              (error) => (error instanceof MissingReferenceError ? "refused" : error),
            ),
        );
        await Bun.sleep(round); // the delete lands at a different point of the writes each round
        expect(await store.deleteRoom(doomed.id)).toBe(true);
        for (const outcome of await Promise.all(writes)) expect(["stored", "refused"]).toContain(outcome);
        expect(await store.listMessages(doomed.id, { limit: 100, skip: 0 })).toEqual([]);
      }
    });

    test("history pages: newest first, before/after cursors, skip, each with its author", async () => {
      const all = await store.listMessages(room.id, { limit: 100, skip: 0 });
      const ids = all.map((m) => m.id);
      expect([...ids].sort((a, b) => b - a)).toEqual(ids);
      expect(all[0]!.author.username).toBeDefined();
      const firstPage = await store.listMessages(room.id, { limit: 3, skip: 0 });
      const secondPage = await store.listMessages(room.id, { limit: 3, before: firstPage.at(-1)!.id });
      expect([...firstPage, ...secondPage].map((m) => m.id)).toEqual(ids.slice(0, 6));
      expect((await store.listMessages(room.id, { limit: 3, skip: 3 })).map((m) => m.id)).toEqual(ids.slice(3, 6));
      const forward = await store.listMessages(room.id, { limit: 2, after: ids.at(-1)! });
      expect(forward.map((m) => m.id)).toEqual([ids.at(-2)!, ids.at(-3)!]);
      expect(await store.listMessages(room.id, { limit: 5, after: ids[0]! })).toEqual([]);
    });

    test("the JSON history page is exactly the HTTP shape of the same page", async () => {
      const [edited] = await store.insertMessages([
        { roomId: room.id, userId: bob.id, content: 'say "hi" \\ ✓', clientId: "j1", createdAt: at(999) },
      ]);
      await store.updateMessage(edited!.record.id, "edited \u202e", at(1001));
      const all = await store.listMessages(room.id, { limit: 100, skip: 0 });
      for (const query of [
        { limit: 7, skip: 0 },
        { limit: 3, skip: 2 },
        { limit: 4, before: all[2]!.id },
        { limit: 5, after: all.at(-4)!.id },
        { limit: 5, before: 1 },
      ]) {
        const page = await store.listMessages(room.id, query);
        const rendered = await store.listMessagesJson(room.id, query);
        expect(JSON.parse(rendered.json)).toEqual(page.map(toMessageJson));
        expect(rendered.count).toBe(page.length);
      }
    });

    test("edit and delete a message", async () => {
      const [stored] = await store.insertMessages([
        { roomId: room.id, userId: bob.id, content: "typo", clientId: null, createdAt: at(400) },
      ]);
      const record = stored!.record;
      const edited = await store.updateMessage(record.id, "fixed", at(401));
      expect(edited).toMatchObject({ content: "fixed", editedAt: at(401) });
      expect(await store.deleteMessage(record.id)).toBe(true);
      expect(await store.findMessage(record.id)).toBeUndefined();
      expect(await store.deleteMessage(record.id)).toBe(false);
    });

    test("deleting a room deletes its messages, and ids are not reused", async () => {
      const doomed = await store.createRoom({ name: "doomed", description: null, createdAt: at(500) });
      const [stored] = await store.insertMessages([
        { roomId: doomed.id, userId: alice.id, content: "bye", clientId: null, createdAt: at(501) },
      ]);
      expect(await store.deleteRoom(doomed.id)).toBe(true);
      expect(await store.findMessage(stored!.record.id)).toBeUndefined();
      expect(await store.deleteRoom(doomed.id)).toBe(false);
      const [next] = await store.insertMessages([
        { roomId: room.id, userId: alice.id, content: "after", clientId: null, createdAt: at(502) },
      ]);
      expect(next!.record.id).toBeGreaterThan(stored!.record.id);
    });

    test("deleting a user deletes their messages", async () => {
      const leaving = await store.createUser({
        username: "leaving",
        email: "leaving@example.com",
        passwordHash: "h",
        role: "user",
        createdAt: at(700),
      });
      const [stored] = await store.insertMessages([
        { roomId: room.id, userId: leaving.id, content: "gone soon", clientId: "x", createdAt: at(701) },
      ]);
      expect(await store.deleteUser(leaving.id)).toBe(true);
      expect(await store.findUserByUsername("leaving")).toBeUndefined();
      expect(await store.findMessage(stored!.record.id)).toBeUndefined();
      expect(await store.deleteUser(leaving.id)).toBe(false);
    });

    test("awkward text is stored and returned exactly", async () => {
      const awkward = [
        '"{a,b}", \\ NULL',
        "NULL",
        "'; DROP TABLE messages; --",
        "\u202Eevil\u202C",
        "emoji 👩‍💻",
        "line\nbreak\ttab",
        "{}",
      ];
      const stored = await store.insertMessages(
        awkward.map((content, i) => ({
          roomId: room.id,
          userId: alice.id,
          content,
          clientId: i % 2 ? `"quoted\\${i}"` : null,
          createdAt: at(600 + i),
        })),
      );
      expect(stored.map((s) => s.record.content)).toEqual(awkward);
      const page = await store.listMessages(room.id, { limit: awkward.length, skip: 0 });
      expect(page.map((m) => m.content).reverse()).toEqual(awkward);
      expect(stored[1]!.record.clientId).toBe('"quoted\\1"');
    });

    test("ping answers", async () => {
      await store.ping();
    });
  });

  describe(`store unavailable (${kind})`, () => {
    test("a closed store's errors are recognised as 'unavailable', not as bugs", async () => {
      const closed = await openTestStore(kind);
      await closed.close();
      let caught: unknown;
      try {
        await closed.listRooms();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeDefined();
      expect(isStoreUnavailable(caught)).toBe(true);
      await closed.dispose().catch(() => {});
    });
  });
}
