// Store contract for importRecords: one transaction, references to rows it creates, re-runs store nothing twice.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  ConflictError,
  MissingReferenceError,
  type ImportBatch,
  type RoomRecord,
  type UserRecord,
} from "../src/store/store.ts";
import { dialect, openTestStore, type TestStore } from "./support.ts";

let store: TestStore;
let host: UserRecord;
let lobby: RoomRecord;
const at = (s: number) => new Date(Date.UTC(2025, 0, 31, 10, 30, s));

beforeAll(async () => {
  store = await openTestStore();
  host = await store.createUser({
    username: "host",
    email: "host@example.com",
    passwordHash: "h",
    role: "user",
    createdAt: at(0),
  });
  lobby = await store.createRoom({ name: "lobby", description: null, createdAt: at(0) });
});
afterAll(() => store.dispose());

/** Everything a test could have changed, to compare before and after. */
async function snapshot() {
  const rooms = await store.listRooms();
  const history = await Promise.all(rooms.map((r) => store.listMessages(r.id, { limit: 100, after: 0 })));
  return { users: await store.listUsers(), rooms, messages: history.flat().map(({ author, ...m }) => m) };
}

const batch = (): ImportBatch => ({
  users: [
    { username: "old-admin", email: "admin@seed.test", passwordHash: "$2b$04$x", role: "admin", createdAt: at(1) },
    { username: "old-user", email: "user@seed.test", passwordHash: "$2b$04$y", role: "user", createdAt: at(2) },
  ],
  rooms: [{ name: "general", description: "from the seed", createdAt: at(3) }],
  messages: [
    { room: { index: 0 }, user: { index: 1 }, content: "first", clientId: "seed:1", createdAt: at(5) },
    { room: { index: 0 }, user: { index: 0 }, content: "second, same second", clientId: "seed:2", createdAt: at(5) },
    {
      room: { id: lobby.id },
      user: { id: host.id },
      content: "into an existing room",
      clientId: "seed:3",
      createdAt: at(6),
    },
  ],
});

describe(`store importRecords (${dialect})`, () => {
  test("a dry run counts what it would store and leaves nothing behind", async () => {
    const before = await snapshot();
    const result = await store.importRecords(batch(), { dryRun: true });
    expect(result.userIds).toHaveLength(2);
    expect(result.roomIds).toHaveLength(1);
    expect(result.messagesStored).toBe(3);
    expect(await snapshot()).toEqual(before);
  });

  test("a failure half way (a missing room) rolls back the users and rooms it had created", async () => {
    const before = await snapshot();
    const bad = batch();
    const broken = {
      ...bad,
      messages: [...bad.messages, { ...bad.messages[0]!, room: { id: 999_999 }, clientId: "seed:4" }],
    };
    await expect(store.importRecords(broken)).rejects.toBeInstanceOf(MissingReferenceError);
    expect(await snapshot()).toEqual(before);
  });

  test("a clash with an existing username is a ConflictError and stores nothing", async () => {
    const before = await snapshot();
    const bad = batch();
    const clash = { ...bad, users: [bad.users[0]!, { ...bad.users[1]!, username: "host" }] };
    await expect(store.importRecords(clash)).rejects.toEqual(new ConflictError("username"));
    expect(await snapshot()).toEqual(before);
  });

  test("creates users, rooms and messages; references resolve; ids follow input order; timestamps kept", async () => {
    const result = await store.importRecords(batch());
    expect(result.messagesStored).toBe(3);
    const [adminId, userId] = result.userIds as [number, number];
    expect(await store.findUserById(adminId)).toMatchObject({
      username: "old-admin",
      role: "admin",
      passwordHash: "$2b$04$x",
      createdAt: at(1),
    });
    const general = await store.findRoom(result.roomIds[0]!);
    expect(general).toMatchObject({ name: "general", description: "from the seed", createdAt: at(3) });
    const history = await store.listMessages(general!.id, { limit: 10, after: 0 });
    expect(history.map((m) => [m.content, m.userId, m.clientId, m.createdAt.toISOString()])).toEqual([
      ["first", userId, "seed:1", at(5).toISOString()],
      ["second, same second", adminId, "seed:2", at(5).toISOString()],
    ]);
    expect(history[0]!.id).toBeLessThan(history[1]!.id);
    const lobbyHistory = await store.listMessages(lobby.id, { limit: 10, after: 0 });
    expect(lobbyHistory.map((m) => [m.content, m.userId])).toEqual([["into an existing room", host.id]]);
    expect(lobbyHistory[0]!.id).toBeGreaterThan(history[1]!.id);
  });

  test("messages stored before under the same user and clientId are left alone", async () => {
    const before = await snapshot();
    const [admin, user] = [await store.findUserByUsername("old-admin"), await store.findUserByUsername("old-user")];
    const general = (await store.listRooms()).find((r) => r.name === "general")!;
    const again = await store.importRecords({
      users: [],
      rooms: [],
      messages: [
        {
          room: { id: general.id },
          user: { id: user!.id },
          content: "first, edited in the seed",
          clientId: "seed:1",
          createdAt: at(5),
        },
        { room: { id: general.id }, user: { id: admin!.id }, content: "second", clientId: "seed:2", createdAt: at(5) },
      ],
    });
    expect(again).toEqual({ userIds: [], roomIds: [], messagesStored: 0 });
    expect(await snapshot()).toEqual(before);
  });

  test("large imports report progress and keep their order", async () => {
    const total = 12_000;
    const progress: number[] = [];
    const result = await store.importRecords(
      {
        users: [],
        rooms: [{ name: "busy", description: null, createdAt: at(0) }],
        messages: Array.from({ length: total }, (_, i) => ({
          room: { index: 0 },
          user: { id: host.id },
          content: `m${i}`,
          clientId: `bulk:${i}`,
          createdAt: at(i % 60),
        })),
      },
      { onProgress: (done) => progress.push(done) },
    );
    expect(result.messagesStored).toBe(total);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)!).toBeLessThanOrEqual(total);
    const first = await store.listMessages(result.roomIds[0]!, { limit: 100, after: 0 });
    expect(first.map((m) => m.content)).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
  });
});
