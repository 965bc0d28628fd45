// Joining under load, on several instances: three instances on one PostgreSQL, messages sent at a fixed rate
// spread over them, and sockets opening one after another with `since=`; reports how long each took from the
// WebSocket's creation to its `sync` frame (history delivered), per message rate.
// With --seam-ms N each joiner stays open N ms after its `sync`, and the run checks that what it got (history, then
// live) is exactly the acked messages after its `since`, in order: nothing lost or doubled across the seam.
// Usage: bun bench/join.ts [--rates 100,400] [--joins 100] [--instances 3] [--seam-ms 0]   (BENCH_POSTGRES_URL: the admin URL)
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type spawn, startInstance, stop } from "./procs.ts";
import { Api, seed } from "./seed.ts";
import { scratchDatabase } from "../test/scratch-database.ts";

const ROOT = join(import.meta.dir, "..");
const { values } = parseArgs({
  options: {
    rates: { type: "string", default: "100,400" },
    joins: { type: "string", default: "100" },
    instances: { type: "string", default: "3" },
    senders: { type: "string", default: "30" },
    "seam-ms": { type: "string", default: "0" },
  },
});
const rates = values.rates.split(",").map(Number);
const joins = Number(values.joins);
const senders = Number(values.senders);
const seamMs = Number(values["seam-ms"]);
const adminUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const scratch = await scratchDatabase("bench_join", adminUrl);
const dbUrl = scratch.url;

const servers: ReturnType<typeof spawn>[] = [];
const startServer = () => startInstance(dbUrl, join(ROOT, `bench/results/join-${servers.length}`), servers);

const wsUrl = (base: string, roomId: number, token: string, since?: number) =>
  `${base.replace(/^http/, "ws")}/ws/${roomId}?token=${token}${since === undefined ? "" : `&since=${since}`}`;

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.addEventListener("open", () => resolve());
    ws.addEventListener("error", () => reject(new Error("socket error")));
  });
}

export interface JoinReport {
  instances: number;
  senders: number;
  results: {
    rate: number;
    achievedPerSec: number;
    joins: number;
    joinToSyncMs: { p50: number; p99: number; max: number };
    /** With --seam-ms: joiners whose messages were not exactly the acked ones after their `since`, in order. */
    seamErrors?: number;
  }[];
}

const percentile = (sorted: number[], q: number) =>
  Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;

async function scenario(urls: string[], roomId: number, tokens: string[], joinerToken: string, rate: number) {
  // Senders: one socket each, spread over the instances, sending in turn at `rate` messages per second in all.
  const sockets = await Promise.all(
    tokens.slice(0, senders).map(async (token, i) => {
      const ws = new WebSocket(wsUrl(urls[i % urls.length]!, roomId, token));
      await opened(ws);
      return ws;
    }),
  );
  let lastId = 0;
  let acked = 0;
  const ackedIds: number[] = [];
  for (const ws of sockets) {
    ws.addEventListener("message", (event) => {
      // Every sender gets every message of the room: parsing them all (12,000 a second at 400 msg/s) took this
      // process's CPU from the joins it times, on a machine where it shares two cores with the servers.
      const data = String(event.data);
      if (!data.startsWith('{"type":"ack"')) return;
      const frame = JSON.parse(data);
      acked++;
      if (seamMs > 0) ackedIds.push(frame.id);
      if (frame.id > lastId) lastId = frame.id;
    });
  }
  let sent = 0;
  const startedAt = performance.now();
  const sender = setInterval(() => {
    const due = Math.floor(((performance.now() - startedAt) / 1000) * rate);
    for (; sent < due; sent++)
      sockets[sent % sockets.length]!.send(JSON.stringify({ content: `load ${sent}`, client_id: `c${rate}-${sent}` }));
  }, 5);
  await Bun.sleep(1000); // the load settles before the first join
  const times: number[] = [];
  const seams: { since: number; ids: number[] }[] = [];
  for (let n = 0; n < joins; n++) {
    const start = performance.now();
    const since = Math.max(0, lastId - 20);
    const ws = new WebSocket(wsUrl(urls[n % urls.length]!, roomId, joinerToken, since));
    const seam = { since, ids: [] as number[] };
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no sync in 10 s")), 10_000);
      let synced = false;
      ws.addEventListener("message", (event) => {
        const data = String(event.data);
        if (synced && !data.startsWith('{"type":"message"')) return;
        const frame = JSON.parse(data);
        if (frame.type === "message") seam.ids.push(frame.id);
        if (frame.type !== "sync") return;
        synced = true;
        clearTimeout(timer);
        resolve();
      });
      ws.addEventListener("close", () => synced || reject(new Error("closed before sync")));
    });
    times.push(performance.now() - start);
    if (seamMs > 0) {
      seams.push(seam);
      setTimeout(() => ws.close(), seamMs);
    } else ws.close();
    await Bun.sleep(50);
  }
  clearInterval(sender);
  const seconds = (performance.now() - startedAt) / 1000;
  let seamErrors: number | undefined;
  if (seamMs > 0) {
    await Bun.sleep(seamMs + 1000); // the last joiners close, the last acks arrive
    const all = ackedIds.toSorted((a, b) => a - b);
    seamErrors = 0;
    for (const { since, ids } of seams) {
      const expected = all.filter((id) => id > since && id <= (ids.at(-1) ?? since));
      if (ids.length !== expected.length || ids.some((id, i) => id !== expected[i])) {
        seamErrors++;
        console.error(
          `seam: since ${since}, got ${ids.length} messages ${ids.at(0)}..${ids.at(-1)}, expected ${expected.length}`,
        );
      }
    }
  }
  for (const ws of sockets) ws.close();
  times.sort((a, b) => a - b);
  return {
    rate,
    achievedPerSec: Math.round(acked / seconds),
    joins: times.length,
    joinToSyncMs: { p50: percentile(times, 0.5), p99: percentile(times, 0.99), max: percentile(times, 1) },
    seamErrors,
  };
}

try {
  const urls: string[] = [];
  for (let i = 0; i < Number(values.instances); i++) urls.push(await startServer());
  const seeded = await seed(new Api(urls[0]!), { users: senders + 1, rooms: { busy: rates.length } });
  const results = [];
  for (const [i, rate] of rates.entries()) {
    const result = await scenario(
      urls,
      seeded.rooms.busy![i]!,
      seeded.tokens.slice(0, senders),
      seeded.tokens[senders]!,
      rate,
    );
    const seam =
      result.seamErrors === undefined ? "" : `; ${result.seamErrors} joiners with a gap or a duplicate across the seam`;
    console.log(
      `${String(rate).padStart(5)} msg/s asked (${result.achievedPerSec} acked/s): join to sync p50 ${result.joinToSyncMs.p50} ms, p99 ${result.joinToSyncMs.p99} ms, max ${result.joinToSyncMs.max} ms over ${result.joins} joins${seam}`,
    );
    results.push(result);
  }
  console.log(JSON.stringify({ instances: urls.length, senders, results }));
} finally {
  await Promise.all(servers.map((s) => stop(s)));
  await scratch.drop();
}
