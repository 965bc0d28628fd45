// Seeds a large history for the search benchmark, straight through the store's import (the same path as
// `import-seed`, indexed as it goes): users, 45 public and 5 private rooms (the reader in 2 of them), and
// messages of 4-16 made-up words drawn with a Zipf law, so some words are everywhere and most are rare.
//   bun bench/search-seed.ts --url <DATABASE_URL> --messages 1000000 [--reader <user id>]
// Prints one JSON line: what it stored and how long it took. The server must not hold a SQLite file meanwhile.
import { parseArgs } from "node:util";
import { parseDatabaseUrl } from "../src/config.ts";
import { openStore } from "../src/store/open.ts";
import type { ImportMessage } from "../src/store/store.ts";
import { messageText, randomFrom } from "./search-words.ts";

const { values } = parseArgs({
  strict: true,
  options: { url: { type: "string" }, messages: { type: "string", default: "1000000" }, reader: { type: "string" } },
});
const total = Number(values.messages);
if (!values.url || !Number.isInteger(total) || total < 1) {
  console.error("usage: bun bench/search-seed.ts --url <DATABASE_URL> --messages <n> [--reader <user id>]");
  process.exit(2);
}

const CHUNK = 50_000;
const started = performance.now();
const store = await openStore(parseDatabaseUrl(values.url), { poolSize: 2 });
try {
  const at = new Date(Date.UTC(2025, 0, 1));
  const tag = Date.now().toString(36);
  const made = await store.importRecords({
    users: Array.from({ length: 100 }, (_, i) => ({
      username: `searcher${i}_${tag}`,
      email: `searcher${i}_${tag}@bench.test`,
      passwordHash: "-",
      role: "user" as const,
      createdAt: at,
    })),
    rooms: Array.from({ length: 45 }, (_, i) => ({ name: `search ${i} ${tag}`, description: null, createdAt: at })),
    messages: [],
  });
  const reader = Number(values.reader ?? made.userIds[0]);
  const privateRooms: number[] = [];
  for (let i = 0; i < 5; i++) {
    const room = await store.createRoom({
      name: `hidden ${i}`,
      description: null,
      createdAt: at,
      visibility: "private",
      ownerId: made.userIds[1]!,
    });
    if (i < 2) await store.addMember(room.id, reader, at);
    privateRooms.push(room.id);
  }
  const rooms = [...made.roomIds, ...privateRooms];
  const random = randomFrom(19);
  let stored = 0;
  for (let start = 0; start < total; start += CHUNK) {
    const messages: ImportMessage[] = [];
    for (let i = start; i < Math.min(total, start + CHUNK); i++) {
      messages.push({
        room: { id: rooms[Math.floor(random() * rooms.length)]! },
        user: { id: made.userIds[Math.floor(random() * made.userIds.length)]! },
        content: messageText(random),
        clientId: `search:${tag}:${i}`,
        createdAt: new Date(at.getTime() + i),
      });
    }
    stored += (await store.importRecords({ users: [], rooms: [], messages })).messagesStored;
    console.error(`search-seed: ${stored} messages, ${Math.round((performance.now() - started) / 1000)} s`);
  }
  // What autovacuum does soon after a bulk load: the planner needs the words' statistics, and VACUUM moves the GIN
  // index's pending list (new entries, kept unsorted until then, read in full by every search) into the index.
  if (store.dialect === "postgres") await analyze(values.url);
  console.log(
    JSON.stringify({
      messages: stored,
      rooms: rooms.length,
      reader,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    }),
  );
} finally {
  await store.close();
}

async function analyze(url: string) {
  const { default: postgres } = await import("postgres");
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql`VACUUM ANALYZE messages`;
  await sql`VACUUM ANALYZE message_words`;
  await sql.end();
}
