// What storing a message costs the store alone: store.insertMessages in batches, on a fresh database, CPU time of
// this process (and wall time) per message after a warm-up, up to the store's close. Yields to the event loop after
// each batch, as the server does, so work a store does beside its commits (its search indexer) is counted.
// cpuUsPerMessage is the whole process's (every thread); threadCpuUsPerMessage the main thread's alone, the one that
// answers sockets in the server (the search indexer runs on a thread of its own); insertWallUsPerMessage the
// batches' wall time without the close (which waits for the indexer to finish).
//   bun bench/store-insert.ts <worktree root> sqlite|postgres [batch=16] [batches=1500]
// PostgreSQL: a scratch database on BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); its own
// CPU is not in the figure. Used to compare commits (each checked out in its own worktree) on a shared machine.
import { readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const [rootArg, db, batchArg, batchesArg] = process.argv.slice(2);
if (!rootArg || (db !== "sqlite" && db !== "postgres")) {
  console.error("usage: bun bench/store-insert.ts <worktree root> sqlite|postgres [batch] [batches]");
  process.exit(2);
}
const root = resolve(rootArg);
const batch = Number(batchArg ?? 16);
const batches = Number(batchesArg ?? 1500);
const { openStore } = await import(join(root, "src/store/open.ts"));
const { parseDatabaseUrl } = await import(join(root, "src/config.ts"));
const adminUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const name = `store_insert_${process.pid}`;
const dir = `/tmp/${name}`;
let url = `sqlite:${dir}/chat.db`;
const postgres =
  db === "postgres" ? (await import(join(root, "node_modules/postgres/src/index.js"))).default : undefined;
if (postgres) {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const target = new URL(adminUrl);
  target.pathname = `/${name}`;
  url = target.toString();
}
/** CPU microseconds of the main thread (its task id is the process id), from /proc in clock ticks (10 ms). */
const threadCpu = () => {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
};
try {
  const store = await openStore(parseDatabaseUrl(url), { poolSize: 2 });
  const at = new Date();
  const user = await store.createUser({
    username: "writer",
    email: "writer@bench.test",
    passwordHash: "-",
    role: "user",
    createdAt: at,
  });
  const rooms: number[] = [];
  for (let i = 0; i < 20; i++)
    rooms.push((await store.createRoom({ name: `room ${i}`, description: null, createdAt: at })).id);
  const vocabulary = Array.from({ length: 5000 }, (_, i) => `w${(i * 7919) % 100000}x`);
  let seed = 1;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const text = () =>
    Array.from(
      { length: 4 + Math.floor(random() * 13) },
      () => vocabulary[Math.floor(random() ** 3 * vocabulary.length)],
    ).join(" ");
  let n = 0;
  const run = async (count: number) => {
    for (let b = 0; b < count; b++) {
      const messages = Array.from({ length: batch }, () => ({
        roomId: rooms[n % 20]!,
        userId: user.id,
        content: text(),
        clientId: `c${n++}`,
        createdAt: at,
      }));
      await store.insertMessages(messages);
      await Bun.sleep(0);
    }
  };
  await run(200);
  const wall = performance.now();
  const cpu = process.cpuUsage();
  const thread = threadCpu();
  await run(batches);
  const insertWall = performance.now() - wall;
  const insertThread = threadCpu() - thread;
  // The close indexes what the indexer has not yet: counted.
  await store.close();
  const used = process.cpuUsage(cpu);
  const threadUsed = threadCpu() - thread;
  const count = batches * batch;
  const round = (x: number) => Math.round(x * 10) / 10;
  console.log(
    JSON.stringify({
      root,
      db,
      batch,
      messages: count,
      cpuUsPerMessage: round((used.user + used.system) / count),
      threadCpuUsPerMessage: round(threadUsed / count),
      insertThreadCpuUsPerMessage: round(insertThread / count),
      insertWallUsPerMessage: round((insertWall * 1000) / count),
      wallUsPerMessage: round(((performance.now() - wall) * 1000) / count),
    }),
  );
} finally {
  if (postgres) {
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  } else rmSync(dir, { recursive: true, force: true });
}
