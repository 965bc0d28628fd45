// A big room's purge on SQLite (src/store/sqlite/room-purge.ts) against a live room: the main thread's event-loop
// pauses and the live room's write latency while the room's messages are deleted.
// bun bench/purge-pause.ts [--messages 100000] [--rounds 1]
import { Database } from "bun:sqlite";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openSqliteStore } from "../src/store/sqlite/store.ts";
import type { NewMessage } from "../src/store/store.ts";

const { values: args } = parseArgs({
  options: { messages: { type: "string", default: "100000" }, rounds: { type: "string", default: "1" } },
});
const N = Number(args.messages);
const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);
const wall = () => performance.timeOrigin + performance.now();

function pending(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query("SELECT count(*) AS n FROM room_purges").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function round(r: number) {
  const path = join(tmpdir(), `purge-pause-${process.pid}-${r}.db`);
  const store = openSqliteStore(path);
  const alice = await store.createUser({
    username: "alice",
    email: "a@example.com",
    passwordHash: "h",
    role: "user",
    createdAt: at(0),
  });
  const live = await store.createRoom({ name: "live", description: null, createdAt: at(0) });
  const big = await store.createRoom({ name: "big", description: null, createdAt: at(0) });
  const filling = performance.now();
  for (let done = 0; done < N; done += 5000) {
    const batch = Array.from(
      { length: Math.min(5000, N - done) },
      (_, i): NewMessage => ({
        roomId: big.id,
        userId: alice.id,
        content: `big room message ${done + i} with some words`,
        clientId: null,
        createdAt: at(20),
      }),
    );
    await store.insertMessages(batch);
  }
  // Indexed before the purge starts (a search catches the indexer up).
  await store.searchMessages({
    terms: [{ words: ["big"], prefix: false }],
    readerId: alice.id,
    roomIds: null,
    authorIds: null,
    before: null,
    limit: 1,
  });
  console.error(
    `round ${r}: ${N} messages stored and indexed in ${((performance.now() - filling) / 1000).toFixed(1)} s`,
  );

  const gaps: { at: number; ms: number }[] = [];
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    gaps.push({ at: performance.timeOrigin + last, ms: now - last });
    last = now;
  }, 1);
  const started = performance.now();
  const startedWall = wall();
  await store.deleteRoom(big.id);
  const latencies: number[] = [];
  while (pending(path) > 0) {
    const t = performance.now();
    await store.insertMessages([
      { roomId: live.id, userId: alice.id, content: `live ${latencies.length}`, clientId: null, createdAt: at(30) },
    ]);
    latencies.push(performance.now() - t);
    await Bun.sleep(2);
  }
  clearInterval(ticker);
  const purgeS = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const walMb = Bun.file(`${path}-wal`).size / 2 ** 20;
  const long = gaps.filter((g) => g.ms > 50).sort((a, b) => b.ms - a.ms);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!.toFixed(1);
  console.log(
    `round ${r}: ${N} messages purged in ${purgeS.toFixed(1)} s; longest pause ${long[0]?.ms.toFixed(0) ?? "<50"} ms, ` +
      `pauses > 50 ms: ${long.length}, > 100 ms: ${long.filter((g) => g.ms > 100).length}; ` +
      `${latencies.length} live writes p50 ${q(0.5)} p99 ${q(0.99)} max ${latencies.at(-1)!.toFixed(1)} ms; WAL file ${walMb.toFixed(0)} MB`,
  );
  for (const g of long.slice(0, 10))
    console.error(`  pause ${g.ms.toFixed(0)} ms at +${(g.at - startedWall).toFixed(0)} ms (${g.at.toFixed(0)})`);
  await store.close();
  for (const suffix of ["", "-wal", "-shm", ".lock"])
    await Bun.file(path + suffix)
      .delete()
      .catch(() => {});
}

for (let r = 1; r <= Number(args.rounds); r++) await round(r);
