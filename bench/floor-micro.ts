// What a group commit costs per message in many small rooms, in-process (no sockets): batches of 240 messages from
// 1,000 authors in 200 rooms (5 each), a random UUID client_id each, as many-rooms sends them. Wall and CPU time
// of this process per message, and the slowest batch. On a shared machine CPU time moves far less than the socket
// benches' ratios, whose relay alone varied 7,000-19,000 messages/s within a minute.
//   bun bench/floor-micro.ts floor <layout> [main|worker] [messages]   the floor's SQLite table (bench/floor.ts)
//   bun bench/floor-micro.ts floor-postgres all|room [messages]         the floor's PostgreSQL table, both or one index
//   bun bench/floor-micro.ts store <worktree root> [messages]           the chat server's SQLite store at that checkout
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { openFloorStore, type FloorCheckpoint, type FloorIndexes, type FloorLayout } from "./floor.ts";
import { scratchDatabase } from "../test/scratch-database.ts";

const [mode, arg, third, fourth] = process.argv.slice(2);
const BATCH = 240;
const ROOMS = 200;
const PER_ROOM = 5;
const CONTENT = "hello there, a chat message of some length";
const dir = await mkdtemp(join(tmpdir(), "floor-micro-"));

/** Runs `store` over `n` messages; prints the figures. */
async function measure(
  label: string,
  n: number,
  store: (rows: { room: number; author: number; clientId: string }[]) => Promise<unknown> | unknown,
) {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let slowest = 0;
  for (let done = 0; done < n; done += BATCH) {
    const rows = Array.from({ length: BATCH }, () => {
      const author = Math.floor(Math.random() * ROOMS * PER_ROOM);
      return { room: Math.floor(author / PER_ROOM), author, clientId: crypto.randomUUID() };
    });
    const t = performance.now();
    await store(rows);
    slowest = Math.max(slowest, performance.now() - t);
    // As the server between batches: the event loop turns (an indexer or checkpointer thread reports back).
    await new Promise((r) => setImmediate(r));
  }
  const used = process.cpuUsage(cpu);
  const us = (x: number) => Math.round(x * 10) / 10;
  console.log(
    JSON.stringify({
      label,
      messages: n,
      wallUsPerMessage: us(((performance.now() - started) * 1000) / n),
      cpuUsPerMessage: us((used.user + used.system) / n),
      slowestBatchMs: us(slowest),
    }),
  );
}

try {
  if (mode === "floor" || mode === "floor-postgres") {
    const postgres = mode === "floor-postgres";
    const n = Number((postgres ? third : fourth) ?? 120_000);
    const scratch = postgres
      ? await scratchDatabase(
          "floor_micro",
          process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test",
        )
      : undefined;
    const store = postgres
      ? await openFloorStore(scratch!.url, arg as FloorIndexes)
      : await openFloorStore(
          `sqlite:${join(dir, "floor.db")}`,
          "all",
          arg as FloorLayout,
          (third ?? "main") as FloorCheckpoint,
        );
    await measure(postgres ? `floor postgres indexes=${arg}` : `floor sqlite ${arg}/${third ?? "main"}`, n, (rows) =>
      store(rows.map((r) => ({ roomId: r.room, userId: r.author, content: CONTENT, clientId: r.clientId }))),
    );
    await store.close();
    await scratch?.drop();
  } else if (mode === "store" && arg) {
    const root = resolve(arg);
    const { openSqliteStore } = await import(join(root, "src/store/sqlite/store.ts"));
    const store = openSqliteStore(join(dir, "chat.db"));
    const at = new Date();
    const users: number[] = [];
    for (let i = 0; i < ROOMS * PER_ROOM; i++) {
      users.push(
        (
          await store.createUser({
            username: `u${i}`,
            email: `u${i}@bench.test`,
            passwordHash: "-",
            role: "user",
            createdAt: at,
          })
        ).id,
      );
    }
    const rooms: number[] = [];
    for (let i = 0; i < ROOMS; i++)
      rooms.push((await store.createRoom({ name: `r${i}`, description: null, createdAt: at })).id);
    await measure(`store ${root}`, Number(third ?? 100_000), (rows) =>
      store.insertMessages(
        rows.map((r) => ({
          roomId: rooms[r.room]!,
          userId: users[r.author]!,
          content: CONTENT,
          clientId: r.clientId,
          createdAt: at,
        })),
      ),
    );
    await store.close();
  } else {
    console.error(
      "usage: bun bench/floor-micro.ts floor <layout> [main|worker] [messages] | floor-postgres all|room [messages] | store <root> [messages]",
    );
    process.exitCode = 2;
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
