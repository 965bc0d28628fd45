// Several instances on one PostgreSQL: the same fanout load on one instance, then spread over two (with every
// LISTEN connection killed mid-run, unless NO_KILL=1), each figure with its ratio to the one-instance run.
// Usage: bun bench/cluster.ts [--duration 5]   (BENCH_POSTGRES_URL overrides the admin URL)
import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import type { LoadReport } from "./load.ts";
import { runJson, type spawn, startInstance, stop } from "./procs.ts";
import { Api, seed } from "./seed.ts";
import { scratchDatabase } from "../test/scratch-database.ts";

const ROOT = join(import.meta.dir, "..");
const { values } = parseArgs({ options: { duration: { type: "string", default: "5" } } });
const duration = Number(values.duration);
const adminUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const scratch = await scratchDatabase("bench_cluster", adminUrl);
const dbUrl = scratch.url;

const servers: ReturnType<typeof spawn>[] = [];
const startServer = () => startInstance(dbUrl, join(ROOT, `bench/results/cluster-${servers.length}`), servers);

async function load(
  urls: string[],
  tokens: string[],
  rooms: number[],
  killListenersAfterMs?: number,
): Promise<LoadReport> {
  const tokenFile = join(ROOT, "bench/results/cluster-tokens.json");
  await Bun.write(tokenFile, JSON.stringify(tokens));
  const killer =
    killListenersAfterMs === undefined
      ? undefined
      : Bun.sleep(killListenersAfterMs).then(async () => {
          const pg = postgres(dbUrl, { max: 1, onnotice: () => {} });
          const killed = await pg`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE application_name = 'chat-bus' AND datname = current_database()`;
          await pg.end();
          return killed.length;
        });
  const args = [
    "--url",
    urls.join(","),
    "--rooms",
    "2",
    "--clients",
    "20",
    "--inflight",
    "8",
    "--duration",
    String(duration),
  ];
  const { json, stderr } = await runJson<LoadReport>(
    [process.execPath, join(ROOT, "bench/load.ts"), ...args, "--token-file", tokenFile, "--room-ids", rooms.join(",")],
    (duration + 30) * 1000,
  );
  if (!json) throw new Error(`load failed: ${stderr.slice(-500)}`);
  if (killer) console.error(`killed ${await killer} LISTEN connections mid-run`);
  return json;
}

try {
  const a = await startServer();
  const b = await startServer();
  const seeded = await seed(new Api(a), { users: 40, rooms: { fanout: 2 } });
  const rooms = seeded.rooms.fanout!;
  const one = await load([a], seeded.tokens, rooms);
  const two = await load([a, b], seeded.tokens, rooms, process.env.NO_KILL ? undefined : (duration * 1000) / 2);
  const row = (name: string, r: LoadReport) =>
    `${name.padEnd(32)} ${String(r.ackedPerSec).padStart(8)} msg/s  p50 ${r.latencyMs.p50} ms  p99 ${r.latencyMs.p99} ms  lost ${r.lost}  duplicated ${r.duplicated}`;
  console.log(row("one instance", one));
  console.log(row(process.env.NO_KILL ? "two instances" : "two instances, listeners killed", two));
  console.log(
    `ratio two/one: msg/s ${(two.ackedPerSec / one.ackedPerSec).toFixed(2)}, p99 ${(two.latencyMs.p99 / one.latencyMs.p99).toFixed(2)}`,
  );
  console.log(JSON.stringify({ one, two }));
  // Losing or doubling a message is a failure, whatever the speed.
  if ([one, two].some((r) => r.lost > 0 || r.duplicated > 0 || r.acked < r.sent)) process.exitCode = 1;
} finally {
  await Promise.all(servers.map((s) => stop(s)));
  await scratch.drop();
}
