// Scratch for issue 21: the relay and floor variants, alternating, many-rooms shape; ratios against the relay of
// the same round. Usage: bun bench/floor-compare.ts --rounds 3 --variants "sqlite:rowid:main,sqlite:window:worker"
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { LoadReport } from "./load.ts";
import { lineReader, runJson, spawn, stop } from "./procs.ts";
import { scratchDatabase } from "../test/scratch-database.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    variants: { type: "string", default: "sqlite:rowid:main" },
    duration: { type: "string", default: "5" },
    rooms: { type: "string", default: "200" },
    clients: { type: "string", default: "5" },
    inflight: { type: "string", default: "1" },
  },
});
const BUN = process.execPath;
const ROOT = join(import.meta.dir, "..");
const dir = await mkdtemp(join(tmpdir(), "floor-cmp-"));
const pg = values.variants!.includes("postgres")
  ? await scratchDatabase("floorcmp", "postgres://postgres@127.0.0.1:5432/test")
  : undefined;

async function run(args: string[]) {
  const proc = spawn([BUN, ...args], { cwd: ROOT, stderr: "inherit" });
  const line = await lineReader(proc.stdout as ReadableStream<Uint8Array>)(10_000);
  const port = /^listening (\d+)/.exec(line ?? "")?.[1];
  if (!port) throw new Error(`did not start: ${line}`);
  const load = [
    join(ROOT, "bench/load.ts"),
    "--url",
    `http://127.0.0.1:${port}`,
    "--duration",
    values.duration!,
    "--drain",
    "5",
    "--rooms",
    values.rooms!,
    "--clients",
    values.clients!,
    "--inflight",
    values.inflight!,
  ];
  const { json } = await runJson<LoadReport>([BUN, ...load], 60_000);
  await stop(proc);
  if (!json) throw new Error("load failed");
  if (json.lost || json.duplicated) console.error(`lost ${json.lost} dup ${json.duplicated}`);
  return json;
}

const variants = values.variants!.split(",");
const results: Record<string, { r: number; p99: number }[]> = {};
for (let round = 0; round < Number(values.rounds); round++) {
  const order = round % 2 === 0 ? variants : variants.toReversed();
  const relay = await run([join(ROOT, "bench/relay.ts")]);
  const line: string[] = [`relay ${relay.ackedPerSec} p99 ${relay.latencyMs.p99}`];
  for (const v of order) {
    const [db, layout, checkpoint, indexes] = v.split(":");
    const store = db === "sqlite" ? `sqlite:${join(dir, `${round}-${layout}-${checkpoint}.db`)}` : pg!.url;
    const f = await run([
      join(ROOT, "bench/floor.ts"),
      "--store",
      store,
      "--layout",
      layout!,
      "--checkpoint",
      checkpoint!,
      "--indexes",
      indexes ?? "all",
    ]);
    const r = Math.round((f.ackedPerSec / relay.ackedPerSec) * 100) / 100;
    const p99 = Math.round((f.latencyMs.p99 / relay.latencyMs.p99) * 100) / 100;
    (results[v] ??= []).push({ r, p99 });
    line.push(`${v} ${f.ackedPerSec} (${r}, p99 ${p99}x)`);
  }
  console.log(`round ${round + 1}: ${line.join(" | ")}`);
}
for (const [v, rs] of Object.entries(results))
  console.log(`${v}: ${rs.map((x) => `${x.r} (p99 ${x.p99}x)`).join(", ")}`);
await rm(dir, { recursive: true, force: true });
await pg?.drop();
