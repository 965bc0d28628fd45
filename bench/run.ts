// `bun run bench`: the chat server against bare-Bun baselines, on SQLite and PostgreSQL, in one bounded run.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { FileSink, Subprocess } from "bun";
import { httpLoad, type HttpReport } from "./http-load.ts";
import type { LoadReport } from "./load.ts";
import type { JoinReport } from "./join.ts";
import {
  exited,
  freePort,
  killAll,
  lineReader,
  NO_PERSON_LIMITS,
  openFileLimit,
  rssBytes,
  runJson,
  spawn,
  stop,
  waitFor200,
} from "./procs.ts";
import { Api, pool, seed, type Seeded } from "./seed.ts";
import { randomFrom, SEARCH_QUERIES } from "./search-words.ts";
import { scratchDatabase } from "../test/scratch-database.ts";

const ROOT = join(import.meta.dir, "..");
const RESULTS = join(import.meta.dir, "results");
/** The Bun running this script, for every child (PATH may hold another). */
const BUN = process.execPath;
const PG_ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SCENARIOS = [
  "fanout",
  "many-rooms",
  "big-room",
  "history",
  "logins",
  "connections",
  "startup",
  "join-load",
  "search",
] as const;
type Scenario = (typeof SCENARIOS)[number];
type Db = "sqlite" | "postgres";

const USAGE = `usage: bun bench/run.ts [--quick] [--only ${SCENARIOS.join(",")}] [--db sqlite|postgres|both]
                       [--duration <s>] [--connections <idle sockets>] [--search-messages <n>]`;

function parseFlags() {
  try {
    return parseArgs({
      strict: true,
      options: {
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        db: { type: "string", default: "both" },
        duration: { type: "string" },
        connections: { type: "string" },
        "search-messages": { type: "string" },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
const flags = parseFlags();
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
const quick = flags.quick;
const duration = Number(flags.duration ?? (quick ? 1 : 5));
const only = (flags.only
  ?.split(",")
  .map((s) => s.trim())
  .filter(Boolean) ?? [...SCENARIOS]) as Scenario[];
const dbs: Db[] = flags.db === "both" ? ["sqlite", "postgres"] : [flags.db as Db];
const idleSockets = Number(flags.connections ?? (quick ? 100 : 10_000));
const searchMessages = Number(flags["search-messages"] ?? (quick ? 20_000 : 1_000_000));
const bad = [
  ...only.filter((s) => !SCENARIOS.includes(s)).map((s) => `unknown scenario ${s}`),
  ...(dbs.every((d) => d === "sqlite" || d === "postgres") ? [] : [`--db must be sqlite, postgres or both`]),
  ...(duration > 0 && duration <= 600 ? [] : ["--duration must be 0-600 seconds"]),
  ...(Number.isInteger(idleSockets) && idleSockets > 0 ? [] : ["--connections must be a positive integer"]),
  ...(Number.isInteger(searchMessages) && searchMessages > 0 ? [] : ["--search-messages must be a positive integer"]),
];
if (bad.length) {
  console.error(`${bad.join("\n")}\n${USAGE}`);
  process.exit(2);
}
const SIZE = {
  users: quick ? 20 : 100,
  manyRooms: quick ? 20 : 200,
  bigRoom: quick ? 50 : 500,
  idleSockets,
  idleRooms: quick ? 10 : 100,
  logins: 20,
  startupRuns: 5,
  joins: quick ? 10 : 100,
  drain: quick ? 3 : 5,
  searchMessages,
  /** Queries of each kind, one after another (after 20 not counted). */
  searchQueries: quick ? 30 : 300,
};
/** Seeding the search history: about 1 s per 10,000 messages on this machine, with a wide margin. */
const SEARCH_SEED_SECONDS = only.includes("search") ? 60 + Math.ceil(searchMessages / 2000) : 0;

type Cell = number | string | null;
type Row = [figure: string, baseline: Cell, server: Cell, ratio?: number | null];
interface Outcome {
  baseline: Record<string, unknown>;
  floor?: Record<string, unknown>;
  server: Record<string, unknown>;
  ratio: Record<string, number | null>;
  rows: Row[];
  notes?: string[];
  /** Socket scenarios: the server's group commits during the run (from /metrics). */
  writer?: { batches: number; meanBatch: number; meanCommitMs: number };
}
interface Service {
  proc: Subprocess;
  url: string;
  /** For servers: names the log kept in bench/results/ and the lines that report on it. */
  label?: string;
  log?: string;
}
interface Ctx {
  db: Db;
  dbUrl: string;
  dir: string;
  server: Service;
  relay: Service;
  /** The relay storing every frame first (bench/floor.ts), on the same database. */
  floor: Service;
  seeded: Seeded;
  tokenFile: string;
}

// Problems make the exit code 1 (lost or doubled messages, 5xx, a scenario that could not run); notes do not.
const problems: string[] = [];
const notes: string[] = [];
const progress = (line: string) => console.error(`bench: ${line}`);
const ratio = (a: number, b: number): number | null =>
  b > 0 && a >= 0 && Number.isFinite(a) ? Math.round((a / b) * 100) / 100 : null;
const SECRET_KEY = Array.from(crypto.getRandomValues(new Uint8Array(20)), (b) => b.toString(16).padStart(2, "0")).join(
  "",
);

const tmp = await mkdtemp(join(tmpdir(), "chat-bench-"));
let scratch: { url: string; drop(): Promise<void> } | undefined;

async function cleanup(): Promise<void> {
  killAll();
  await dropScratchDb().catch((e) => progress(`could not drop the scratch database: ${e}`));
  await rm(tmp, { recursive: true, force: true });
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => void cleanup().finally(() => process.exit(130)));
}
// The whole run is bounded: a hung child or server cannot keep CI waiting.
const budgetSeconds = 120 + dbs.length * (60 + only.length * (4 * duration + 60) + SEARCH_SEED_SECONDS);
const watchdog = setTimeout(() => {
  progress(`over the time budget of ${budgetSeconds} s, stopping`);
  void cleanup().finally(() => process.exit(3));
}, budgetSeconds * 1000);

// ---- processes -------------------------------------------------------------------------------------------

async function startServer(label: string, dbUrl: string, bcryptCost: number): Promise<Service> {
  const port = await freePort();
  const log = join(tmp, label.replaceAll(" ", "-"));
  // BENCH_SERVER_FLAGS: extra bun flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it.
  const flags = (process.env.BENCH_SERVER_FLAGS ?? "").split(" ").filter(Boolean);
  const proc = spawn([BUN, ...flags, join(ROOT, "bench/serve.ts")], {
    cwd: ROOT,
    log,
    env: {
      NODE_ENV: "production",
      HOST: "127.0.0.1",
      PORT: String(port),
      SECRET_KEY,
      DATABASE_URL: dbUrl,
      BCRYPT_COST: String(bcryptCost),
      ...NO_PERSON_LIMITS,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor200(`${url}/health`, proc, performance.now(), 30_000, 20);
  } catch (error) {
    throw new Error(
      `${label}: ${(error as Error).message}: ${(await Bun.file(`${log}.err`).text()).trim().slice(-500)}`,
    );
  }
  return { proc, url, label, log };
}

/** Stops a server, keeps its log in bench/results/, and reports a crash or errors it logged. */
async function stopServer(service: Service): Promise<void> {
  const label = service.label!;
  const crashed = exited(service.proc);
  await stop(service.proc);
  const out = await Bun.file(`${service.log}.out`)
    .text()
    .catch(() => "");
  const err = await Bun.file(`${service.log}.err`)
    .text()
    .catch(() => "");
  // stdout has a line per request: keep its end only, and count the 5xx answers in it.
  const outLines = out.trim().split("\n");
  const where = `bench/results/${label.replaceAll(" ", "-")}.log`;
  await Bun.write(
    join(ROOT, where),
    `== stdout (last 200 of ${outLines.length} lines)\n${outLines.slice(-200).join("\n")}\n== stderr\n${err}`,
  );
  const lines = err.split("\n").filter((l) => l.trim() && !l.startsWith("warning:"));
  const errors = lines.filter((l) => /"level":"error"|error:/i.test(l));
  // Requests still arriving on kept-alive connections after the stop signal get 503 while the store closes:
  // that is shutdown, not a fault of the scenario.
  const stopAt = outLines.findIndex((l) => /shutting down/.test(l));
  const status5xx = (stopAt < 0 ? outLines : outLines.slice(0, stopAt)).filter((l) => /"status":5\d\d/.test(l));
  if (crashed) {
    // Exit 0 mid-run is a graceful stop: a signal from outside the bench (its stdout says which).
    const last = errors[0] ?? outLines.slice(-2).join(" | ");
    problems.push(
      `${label}: exited with ${service.proc.exitCode ?? service.proc.signalCode} during the run: ${last.slice(0, 300)} (${where})`,
    );
  } else if (errors.length)
    problems.push(`${label}: ${errors.length} error lines in its log, first: ${errors[0]!.slice(0, 300)} (${where})`);
  else if (lines.length)
    notes.push(`${label}: ${lines.length} lines on its stderr, first: ${lines[0]!.slice(0, 200)} (${where})`);
  if (status5xx.length)
    problems.push(`${label}: ${status5xx.length} answers with status 5xx, first: ${status5xx[0]!.slice(0, 300)}`);
}

/** A tool that prints `listening <port>` (the relay, the bare page). */
async function startListening(name: string, cmd: string[]): Promise<Service> {
  const proc = spawn(cmd, { cwd: ROOT, stderr: "inherit" });
  const line = await lineReader(proc.stdout as ReadableStream<Uint8Array>)(10_000);
  const port = /^listening (\d+)/.exec(line ?? "")?.[1];
  if (!port) {
    proc.kill("SIGKILL");
    throw new Error(`${name} did not start (${line ?? "no output"})`);
  }
  return { proc, url: `http://127.0.0.1:${port}` };
}

async function createScratchDb(): Promise<string> {
  scratch = await scratchDatabase("bench", PG_ADMIN_URL);
  return scratch.url;
}

async function dropScratchDb(): Promise<void> {
  const dropping = scratch;
  scratch = undefined;
  await dropping?.drop();
}

// ---- socket load -----------------------------------------------------------------------------------------

interface Shape {
  rooms: number;
  clients: number;
  inflight: number;
}

/** One run of bench/load.ts in its own process (its CPU stays apart from ours); real room ids mean the server. */
async function load(ctx: Ctx, url: string, shape: Shape, roomIds?: number[]): Promise<LoadReport> {
  const args = [
    BUN,
    join(ROOT, "bench/load.ts"),
    "--url",
    url,
    "--duration",
    String(duration),
    "--drain",
    String(SIZE.drain),
  ];
  for (const [name, value] of Object.entries(shape)) args.push(`--${name}`, String(value));
  if (roomIds) args.push("--room-ids", roomIds.join(","), "--token-file", ctx.tokenFile);
  const { json, code, stderr } = await runJson<LoadReport>(args, (15 + duration + SIZE.drain + 15) * 1000);
  if (!json) throw new Error(`load.ts exited ${code}: ${stderr.trim().split("\n").at(-1)}`);
  return json;
}

function loadFigures(r: LoadReport) {
  return {
    ackedPerSec: r.ackedPerSec,
    deliveriesPerSec: r.deliveriesPerSec,
    p50Ms: r.latencyMs.p50,
    p99Ms: r.latencyMs.p99,
    maxMs: r.latencyMs.max,
    sent: r.sent,
    lost: r.lost,
    duplicated: r.duplicated,
    refused: r.refused,
    errorFrames: r.errors.frames,
    firstError: r.errors.first,
    closes: r.errors.closes,
    stalled: r.errors.stalled,
    ok: r.ok,
  };
}

function checkLoad(label: string, r: LoadReport): void {
  const closes = Object.values(r.errors.closes).reduce((a, b) => a + b, 0);
  if (r.lost || r.duplicated || closes || r.errors.stalled) {
    problems.push(
      `${label}: lost ${r.lost}, duplicated ${r.duplicated}, closes ${JSON.stringify(r.errors.closes)}${r.errors.stalled ? ", stalled" : ""}`,
    );
  }
  if (r.errors.frames)
    notes.push(`${label}: ${r.refused} refused, ${r.errors.frames} error frames (${r.errors.first})`);
}

async function socketPair(ctx: Ctx, scenario: string, shape: Shape, roomIds: number[]): Promise<Outcome> {
  progress(`${ctx.db} ${scenario}: relay`);
  const base = await load(ctx, ctx.relay.url, shape);
  progress(`${ctx.db} ${scenario}: storage floor`);
  const floor = await load(ctx, ctx.floor.url, shape);
  progress(`${ctx.db} ${scenario}: server`);
  const before = await writerTotals(ctx.server.url);
  const server = await load(ctx, ctx.server.url, shape, roomIds);
  const after = await writerTotals(ctx.server.url);
  const batches = after.batches - before.batches;
  const writer =
    batches > 0
      ? `${((after.messages - before.messages) / batches).toFixed(1)} msgs, ${((1000 * (after.seconds - before.seconds)) / batches).toFixed(2)} ms`
      : "-";
  checkLoad(`${ctx.db} ${scenario} relay`, base);
  checkLoad(`${ctx.db} ${scenario} floor`, floor);
  checkLoad(`${ctx.db} ${scenario} server`, server);
  const b = loadFigures(base);
  const f = loadFigures(floor);
  const s = loadFigures(server);
  return {
    baseline: b,
    floor: f,
    server: s,
    ratio: {
      ackedPerSec: ratio(s.ackedPerSec, b.ackedPerSec),
      deliveriesPerSec: ratio(s.deliveriesPerSec, b.deliveriesPerSec),
      p99: ratio(s.p99Ms, b.p99Ms),
      floorAckedPerSec: ratio(f.ackedPerSec, b.ackedPerSec),
      floorP99: ratio(f.p99Ms, b.p99Ms),
    },
    rows: [
      ["acked msgs/s", b.ackedPerSec, s.ackedPerSec, ratio(s.ackedPerSec, b.ackedPerSec)],
      ["deliveries/s", b.deliveriesPerSec, s.deliveriesPerSec, ratio(s.deliveriesPerSec, b.deliveriesPerSec)],
      ["latency p50 ms", b.p50Ms, s.p50Ms, ratio(s.p50Ms, b.p50Ms)],
      ["latency p99 ms", b.p99Ms, s.p99Ms, ratio(s.p99Ms, b.p99Ms)],
      ["lost/dup/refused", `${b.lost}/${b.duplicated}/${b.refused}`, `${s.lost}/${s.duplicated}/${s.refused}`],
      ["commit: mean batch, time", "-", writer],
      // The floor in the server column: the relay committing every frame first (bench/floor.ts), against the relay.
      ["floor: acked msgs/s", b.ackedPerSec, f.ackedPerSec, ratio(f.ackedPerSec, b.ackedPerSec)],
      ["floor: latency p99 ms", b.p99Ms, f.p99Ms, ratio(f.p99Ms, b.p99Ms)],
    ],
    writer:
      batches > 0
        ? {
            batches,
            meanBatch: (after.messages - before.messages) / batches,
            meanCommitMs: (1000 * (after.seconds - before.seconds)) / batches,
          }
        : undefined,
  };
}

/** The message writer's totals from /metrics: group commits, messages in them, seconds the database took. */
async function writerTotals(url: string): Promise<{ batches: number; messages: number; seconds: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  return {
    batches: value("message_writer_batch_size_count"),
    messages: value("message_writer_batch_size_sum"),
    seconds: value("message_writer_commit_seconds_sum"),
  };
}

// ---- scenarios -------------------------------------------------------------------------------------------

const scenarios: Record<Scenario, (ctx: Ctx) => Promise<Outcome>> = {
  fanout: (ctx) => socketPair(ctx, "fanout", { rooms: 2, clients: 20, inflight: 8 }, ctx.seeded.rooms.fanout!),
  "many-rooms": (ctx) =>
    socketPair(ctx, "many-rooms", { rooms: SIZE.manyRooms, clients: 5, inflight: 1 }, ctx.seeded.rooms.many!),
  "big-room": (ctx) =>
    socketPair(ctx, "big-room", { rooms: 1, clients: SIZE.bigRoom, inflight: 1 }, ctx.seeded.rooms.big!),

  async history(ctx) {
    const path = `/rooms/${ctx.seeded.rooms.history![0]}/messages?limit=50`;
    const headers = { authorization: `Bearer ${ctx.seeded.tokens[0]}` };
    const page = await fetch(ctx.server.url + path, { headers });
    const body = await page.text();
    if (page.status !== 200) throw new Error(`GET ${path}: ${page.status} ${body.slice(0, 200)}`);
    const file = join(ctx.dir, "page.json");
    await Bun.write(file, body);
    // The newest page is served from memory between changes; a cursor naming the same 50 messages is read from
    // the database every time (the same bytes: checked here).
    const newestId = (JSON.parse(body) as { id: number }[])[0]?.id ?? 0;
    const cursorPath = `${path}&before=${newestId + 1}`;
    const cursorBody = await (await fetch(ctx.server.url + cursorPath, { headers })).text();
    if (cursorBody !== body) throw new Error(`GET ${cursorPath} is not the newest page's bytes`);
    const bare = await startListening("bare-page", [
      BUN,
      join(ROOT, "bench/bare-page.ts"),
      "--file",
      file,
      "--port",
      "0",
    ]);
    let base: HttpReport;
    let server: HttpReport;
    let cursor: HttpReport;
    try {
      progress(`${ctx.db} history: bare page`);
      base = await httpLoad(bare.url + path, { connections: 32, seconds: duration, headers });
      progress(`${ctx.db} history: server (${base.tool})`);
      server = await httpLoad(ctx.server.url + path, { connections: 32, seconds: duration, headers });
      progress(`${ctx.db} history: server, cursor page from the database (${base.tool})`);
      cursor = await httpLoad(ctx.server.url + cursorPath, { connections: 32, seconds: duration, headers });
    } finally {
      await stop(bare.proc);
    }
    for (const [label, r] of [
      ["bare page", base],
      ["server", server],
      ["server cursor", cursor],
    ] as const) {
      if (r.non2xx || r.errors)
        problems.push(`${ctx.db} history ${label}: ${r.non2xx} non-2xx answers, ${r.errors} socket errors`);
    }
    return {
      baseline: { ...base },
      server: {
        ...server,
        messages: (JSON.parse(body) as unknown[]).length,
        bodyBytes: Buffer.byteLength(body),
        cursor,
      },
      ratio: {
        perSec: ratio(server.perSec, base.perSec),
        p99: ratio(server.latencyMs.p99, base.latencyMs.p99),
        cursorPerSec: ratio(cursor.perSec, base.perSec),
      },
      rows: [
        [`req/s (${server.tool}, 32 conns)`, base.perSec, server.perSec, ratio(server.perSec, base.perSec)],
        ["latency p50 ms", base.latencyMs.p50, server.latencyMs.p50, ratio(server.latencyMs.p50, base.latencyMs.p50)],
        ["latency p99 ms", base.latencyMs.p99, server.latencyMs.p99, ratio(server.latencyMs.p99, base.latencyMs.p99)],
        ["req/s, cursor page (db)", base.perSec, cursor.perSec, ratio(cursor.perSec, base.perSec)],
        [
          "cursor latency p99 ms",
          base.latencyMs.p99,
          cursor.latencyMs.p99,
          ratio(cursor.latencyMs.p99, base.latencyMs.p99),
        ],
        [
          "non-2xx/errors",
          `${base.non2xx}/${base.errors}`,
          `${server.non2xx}/${server.errors}, cursor ${cursor.non2xx}/${cursor.errors}`,
        ],
      ],
      notes: [
        `page: ${Buffer.byteLength(body)} bytes, ${(JSON.parse(body) as unknown[]).length} messages; tool ${server.tool}`,
      ],
    };
  },

  // bcrypt at the default cost runs on the server's CPU: do logins slow the message path down?
  async logins(ctx) {
    // Hashes carry their cost, so the login users are created by a server at cost 10. SQLite serves one server
    // per file, so the seeding server (cost 4) makes way for it and comes back afterwards.
    await stopServer(ctx.server);
    const server = await startServer(`${ctx.db} logins server`, ctx.dbUrl, 10);
    try {
      const api = new Api(server.url);
      const names = Array.from({ length: SIZE.logins }, (_, i) => `login${i}`);
      await pool(names, 4, (name) => api.signup(name));
      const shape = { rooms: 1, clients: 10, inflight: 1 };
      progress(`${ctx.db} logins: socket load alone`);
      const quiet = await load(ctx, server.url, shape, ctx.seeded.rooms.logins);
      progress(`${ctx.db} logins: socket load with login bursts`);
      let loading = true;
      const during = load(ctx, server.url, shape, ctx.seeded.rooms.logins).finally(() => (loading = false));
      await Bun.sleep(300); // the generator connects first, so the bursts fall in its sending window
      const loginMs: number[] = [];
      const burstMs: number[] = [];
      let failed = 0;
      let firstFailure: string | undefined;
      const started = performance.now();
      while (loading && performance.now() - started < duration * 1000) {
        const t0 = performance.now();
        await Promise.all(
          names.map(async (name) => {
            const t = performance.now();
            try {
              await api.login(name);
              loginMs.push(performance.now() - t);
            } catch (error) {
              failed++;
              firstFailure ??= (error as Error).message;
            }
          }),
        );
        burstMs.push(performance.now() - t0);
      }
      const busy = await during;
      const burstSeconds = (performance.now() - started) / 1000;
      checkLoad(`${ctx.db} logins quiet`, quiet);
      checkLoad(`${ctx.db} logins bursts`, busy);
      if (failed) problems.push(`${ctx.db} logins: ${failed} logins failed, first: ${firstFailure}`);
      const q = loadFigures(quiet);
      const d = loadFigures(busy);
      const median = (xs: number[]) =>
        Math.round((xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN) * 10) / 10;
      const logins = {
        bursts: burstMs.length,
        logins: loginMs.length,
        failed,
        burstMedianMs: median(burstMs),
        loginMedianMs: median(loginMs),
        loginMaxMs: Math.round(Math.max(...loginMs)),
        loginsPerSec: Math.round(loginMs.length / burstSeconds),
      };
      return {
        baseline: q,
        server: { ...d, ...logins },
        ratio: { p99: ratio(d.p99Ms, q.p99Ms), ackedPerSec: ratio(d.ackedPerSec, q.ackedPerSec) },
        rows: [
          ["p99 ms (alone | bursts)", q.p99Ms, d.p99Ms, ratio(d.p99Ms, q.p99Ms)],
          ["p50 ms (alone | bursts)", q.p50Ms, d.p50Ms, ratio(d.p50Ms, q.p50Ms)],
          ["acked msgs/s (alone | bursts)", q.ackedPerSec, d.ackedPerSec, ratio(d.ackedPerSec, q.ackedPerSec)],
          ["refused, rate limit (alone | bursts)", q.refused, d.refused],
          [`burst of ${SIZE.logins} logins, median ms`, null, logins.burstMedianMs],
          ["logins/s (cost 10)", null, logins.loginsPerSec],
        ],
        notes: [
          `bursts of ${SIZE.logins} concurrent logins, back to back while the load sent: ${logins.bursts}; login median ${logins.loginMedianMs} ms, max ${logins.loginMaxMs} ms`,
        ],
      };
    } finally {
      await stopServer(server);
      ctx.server = await startServer(`${ctx.db} server after logins`, ctx.dbUrl, 4);
    }
  },

  // Search latency over a large history (bench/search-seed.ts writes it through the store's import, indexed as
  // it goes): queries of each kind one after another, as one person searching, timed from request to last byte.
  async search(ctx) {
    const headers = { authorization: `Bearer ${ctx.seeded.tokens[0]}` };
    const me = (await (await fetch(`${ctx.server.url}/auth/me`, { headers })).json()) as { id: number };
    // SQLite serves one process per file: the server makes way for the seeding and comes back afterwards.
    await stopServer(ctx.server);
    let seeding: { messages: number; seconds: number } | undefined;
    try {
      progress(`${ctx.db} search: seeding ${SIZE.searchMessages.toLocaleString("en-US")} messages`);
      const run = await runJson<{ messages: number; seconds: number }>(
        [
          BUN,
          join(ROOT, "bench/search-seed.ts"),
          "--url",
          ctx.dbUrl,
          "--messages",
          String(SIZE.searchMessages),
          "--reader",
          String(me.id),
        ],
        SEARCH_SEED_SECONDS * 1000,
      );
      if (run.code !== 0 || !run.json)
        throw new Error(`search-seed exited with ${run.code}: ${run.stderr.slice(-500)}`);
      seeding = run.json;
    } finally {
      ctx.server = await startServer(`${ctx.db} server after search seeding`, ctx.dbUrl, 4);
    }
    const random = randomFrom(23);
    const rows: Row[] = [];
    const figures: Record<string, unknown> = {};
    for (const [kind, makeQuery] of Object.entries(SEARCH_QUERIES)) {
      progress(`${ctx.db} search: ${kind}`);
      const ms: number[] = [];
      let results = 0;
      for (let i = 0; i < SIZE.searchQueries + 20; i++) {
        const q = makeQuery(random);
        const t0 = performance.now();
        const response = await fetch(`${ctx.server.url}/search?q=${encodeURIComponent(q)}`, { headers });
        const body = await response.text();
        const elapsed = performance.now() - t0;
        if (response.status !== 200) {
          problems.push(`${ctx.db} search ${kind} ${JSON.stringify(q)}: ${response.status} ${body.slice(0, 200)}`);
          break;
        }
        if (i < 20) continue;
        ms.push(elapsed);
        results += (JSON.parse(body) as { results: unknown[] }).results.length;
      }
      const sorted = ms.toSorted((a, b) => a - b);
      const at = (q: number) =>
        Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN) * 10) / 10;
      figures[kind] = {
        queries: ms.length,
        p50Ms: at(0.5),
        p99Ms: at(0.99),
        maxMs: at(1),
        meanResults: Math.round((results / ms.length) * 10) / 10,
      };
      rows.push(
        [`${kind}: p99 ms`, null, at(0.99)],
        [`${kind}: p50 ms`, null, at(0.5)],
        [`${kind}: mean results (of 20)`, null, Math.round((results / ms.length) * 10) / 10],
      );
    }
    return {
      baseline: {},
      server: { ...figures, seeding },
      ratio: {},
      rows: [
        ...rows,
        [
          "history seeded, messages / seconds",
          null,
          `${seeding!.messages.toLocaleString("en-US")} / ${seeding!.seconds}`,
        ],
      ],
      notes: [
        `${ctx.db} search: ${SIZE.searchQueries} queries of each kind one after another, over ${seeding!.messages.toLocaleString("en-US")} messages`,
      ],
    };
  },

  async connections(ctx) {
    // Both ends need one descriptor per socket: the idle client (our limit) and the server (its own).
    const limit = Math.min(await openFileLimit(), await openFileLimit(ctx.server.proc.pid));
    const count = Math.min(SIZE.idleSockets, limit - 500);
    if (count < SIZE.idleSockets)
      notes.push(`${ctx.db} connections: open-file limit ${limit}, so ${count} sockets instead of ${SIZE.idleSockets}`);
    if (count < 1000) notes.push(`${ctx.db} connections: with ${count} sockets, RSS per socket is mostly GC noise`);
    const relayRooms = Array.from({ length: SIZE.idleRooms }, (_, i) => i + 1);
    progress(`${ctx.db} connections: ${count} idle sockets on the relay`);
    const b = await idle(ctx, ctx.relay, count, relayRooms, false);
    progress(`${ctx.db} connections: ${count} idle sockets on the server`);
    const s = await idle(ctx, ctx.server, count, ctx.seeded.rooms.idle!, true);
    for (const [label, r] of [
      ["relay", b],
      ["server", s],
    ] as const) {
      if (r.failed || r.dropped)
        problems.push(
          `${ctx.db} connections ${label}: ${r.failed} failed (${r.firstError}), ${r.dropped} dropped while idle`,
        );
    }
    return {
      baseline: b,
      server: s,
      ratio: {
        perSec: ratio(s.perSec, b.perSec),
        rssPerSocket: count >= 1000 ? ratio(s.rssPerSocketKB, b.rssPerSocketKB) : null,
      },
      rows: [
        ["sockets open", b.opened, s.opened],
        ["connect rate sockets/s", b.perSec, s.perSec, ratio(s.perSec, b.perSec)],
        [
          "RSS per socket KB",
          b.rssPerSocketKB,
          s.rssPerSocketKB,
          count >= 1000 ? ratio(s.rssPerSocketKB, b.rssPerSocketKB) : null,
        ],
        ["RSS before -> after MB", `${b.rssBeforeMB} -> ${b.rssAfterMB}`, `${s.rssBeforeMB} -> ${s.rssAfterMB}`],
        ["seconds from last open to quiet", b.quietAfter, s.quietAfter],
      ],
    };
  },

  // Three instances of their own (bench/join.ts), on PostgreSQL only; the baseline column is the same at 100 msg/s.
  async "join-load"(ctx): Promise<Outcome> {
    if (ctx.db !== "postgres") {
      notes.push("join-load: several instances need PostgreSQL (run with --db postgres or both)");
      return { baseline: {}, server: {}, ratio: {}, rows: [] };
    }
    progress(`${ctx.db} join-load: three instances, ${SIZE.joins} joins at 100 and at 400 msg/s`);
    const { json, stderr } = await runJson<JoinReport>(
      [BUN, join(ROOT, "bench/join.ts"), "--rates", "100,400", "--joins", String(SIZE.joins)],
      (90 + SIZE.joins) * 1000,
    );
    const [slow, busy] = json?.results ?? [];
    if (!slow || !busy) throw new Error(`join.ts: ${stderr.slice(-300)}`);
    const row = (q: "p50" | "p99"): Row => [
      `join -> sync ${q} ms, 100 vs 400 msg/s (3 instances)`,
      slow.joinToSyncMs[q],
      busy.joinToSyncMs[q],
      ratio(busy.joinToSyncMs[q], slow.joinToSyncMs[q]),
    ];
    return {
      baseline: slow,
      server: busy,
      ratio: { p99: ratio(busy.joinToSyncMs.p99, slow.joinToSyncMs.p99) },
      rows: [row("p50"), row("p99")],
    };
  },

  async startup(ctx) {
    const bins = await buildBinaries();
    const base: number[] = [];
    const server: number[] = [];
    progress(`${ctx.db} startup: ${SIZE.startupRuns} runs each`);
    for (let i = 0; i < SIZE.startupRuns; i++) {
      base.push(await timeStart([bins.relay, "--port", "PORT"], {}));
      // SQLite: a fresh file in the empty dir, so migrations run; PostgreSQL: the scratch database, migrated.
      const dbUrl = ctx.db === "sqlite" ? "sqlite:./bench.db" : ctx.dbUrl;
      server.push(
        await timeStart([bins.server, "serve"], {
          DATABASE_URL: dbUrl,
          SECRET_KEY,
          HOST: "127.0.0.1",
          NODE_ENV: "production",
        }),
      );
    }
    const median = (xs: number[]) => Math.round(xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)]! * 10) / 10;
    const b = { medianMs: median(base), runsMs: base.map(Math.round), binary: "bench/relay.ts compiled" };
    const s = { medianMs: median(server), runsMs: server.map(Math.round), buildSeconds: bins.buildSeconds };
    return {
      baseline: b,
      server: s,
      ratio: { medianMs: ratio(s.medianMs, b.medianMs) },
      rows: [
        [
          `spawn -> 200 /ready ms (median of ${SIZE.startupRuns})`,
          b.medianMs,
          s.medianMs,
          ratio(s.medianMs, b.medianMs),
        ],
      ],
    };
  },
};

async function idle(ctx: Ctx, target: Service, count: number, roomIds: number[], withTokens: boolean) {
  const rssBefore = await rssBytes(target.proc.pid);
  const args = [
    BUN,
    join(ROOT, "bench/idle.ts"),
    "--url",
    target.url,
    "--count",
    String(count),
    "--room-ids",
    roomIds.join(","),
  ];
  if (withTokens) args.push("--token-file", ctx.tokenFile);
  const proc = spawn(args, { stdin: "pipe", stderr: "inherit" });
  try {
    const next = lineReader(proc.stdout as ReadableStream<Uint8Array>);
    const first = await next(70_000);
    if (!first?.startsWith("{")) throw new Error(`idle.ts: ${first ?? "no report"}`);
    const opened: {
      opened: number;
      failed: number;
      perSec: number;
      seconds: number;
      quietAfter: number;
      firstError?: string;
    } = JSON.parse(first);
    // idle.ts reports once no frame has come for a second (every join tells its whole room, so until then the
    // server holds frames on their way out). Then a full collection (bench/serve.ts and relay.ts listen for
    // SIGUSR2), so RSS is what the idle sockets hold.
    process.kill(target.proc.pid, "SIGUSR2");
    await Bun.sleep(1000);
    const rssAfter = await rssBytes(target.proc.pid);
    (proc.stdin as FileSink).end();
    const last = await next(15_000);
    const dropped = last?.startsWith("{") ? (JSON.parse(last) as { dropped: number }).dropped : NaN;
    const mb = (bytes: number) => Math.round(bytes / 1024 / 102.4) / 10;
    return {
      ...opened,
      dropped,
      rssBeforeMB: mb(rssBefore),
      rssAfterMB: mb(rssAfter),
      rssPerSocketKB: opened.opened ? Math.round(((rssAfter - rssBefore) / opened.opened / 1024) * 10) / 10 : NaN,
    };
  } finally {
    await stop(proc, 5000);
  }
}

let binaries: Promise<{ server: string; relay: string; buildSeconds: number }> | undefined;
/** Builds once per run, into the temp dir: `dist/` may be in use by someone else. */
function buildBinaries() {
  binaries ??= (async () => {
    const server = join(tmp, "bin", "chat-server");
    const relay = join(tmp, "bin", "relay");
    const t0 = performance.now();
    const built = Bun.spawnSync([BUN, "run", "build", server], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const buildSeconds = Math.round((performance.now() - t0) / 100) / 10;
    if (built.exitCode !== 0) throw new Error(`bun run build failed: ${built.stderr.toString().slice(-500)}`);
    const relayBuilt = Bun.spawnSync([BUN, "build", "--compile", "--minify", "bench/relay.ts", "--outfile", relay], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
    });
    if (relayBuilt.exitCode !== 0) throw new Error(`relay build failed: ${relayBuilt.stderr.toString().slice(-500)}`);
    return { server, relay, buildSeconds };
  })();
  return binaries;
}

/**
 * Milliseconds from spawn to the first 200 on /ready (the server's answers 503 until its database answers and is
 * migrated), in a fresh empty directory. "PORT" in argv is replaced.
 */
async function timeStart(argv: string[], env: Record<string, string>): Promise<number> {
  const dir = await mkdtemp(join(tmp, "start-"));
  const port = String(await freePort());
  const t0 = performance.now();
  const proc = spawn(
    argv.map((a) => (a === "PORT" ? port : a)),
    { cwd: dir, log: join(dir, "log"), env: { ...env, PORT: port } },
  );
  try {
    return await waitFor200(`http://127.0.0.1:${port}/ready`, proc, t0, 30_000, 1);
  } finally {
    await stop(proc);
  }
}

// ---- one database ----------------------------------------------------------------------------------------

async function runDatabase(db: Db): Promise<Record<string, unknown>> {
  const dir = join(tmp, db);
  await mkdir(dir, { recursive: true });
  const dbUrl = db === "sqlite" ? `sqlite:${dir}/bench.db` : await createScratchDb();
  const results: Record<string, unknown> = {};
  const rows: [string, Row][] = [];
  progress(`${db}: starting the server, the relay and the storage floor`);
  const server = await startServer(`${db} server`, dbUrl, 4);
  let ctx: Ctx | undefined;
  const relay = await startListening("relay", [BUN, join(ROOT, "bench/relay.ts"), "--port", "0"]);
  let floor: Service | undefined;
  try {
    const floorStore = db === "sqlite" ? `sqlite:${dir}/floor.db` : dbUrl;
    // The floor follows each store's layout: on SQLite the resend check in memory (bench/floor.ts --layout window).
    const layout = db === "sqlite" ? ["--layout", "window"] : [];
    floor = await startListening("floor", [
      BUN,
      join(ROOT, "bench/floor.ts"),
      "--port",
      "0",
      "--store",
      floorStore,
      ...layout,
    ]);
    const rooms: Record<string, number> = {};
    if (only.includes("fanout")) rooms.fanout = 2;
    if (only.includes("many-rooms")) rooms.many = SIZE.manyRooms;
    if (only.includes("big-room")) rooms.big = 1;
    if (only.includes("history")) rooms.history = 1;
    if (only.includes("logins")) rooms.logins = 1;
    if (only.includes("connections")) rooms.idle = SIZE.idleRooms;
    const t0 = performance.now();
    const seeded = await seed(new Api(server.url), {
      users: SIZE.users,
      rooms,
      historyRoom: "history",
      historyMessages: 60,
    });
    progress(
      `${db}: seeded ${SIZE.users} users, ${Object.values(rooms).reduce((a, b) => a + b, 0)} rooms in ${Math.round(performance.now() - t0)} ms`,
    );
    const tokenFile = join(dir, "tokens.txt");
    await Bun.write(tokenFile, seeded.tokens.join("\n"));
    ctx = { db, dbUrl, dir, server, relay, floor, seeded, tokenFile };
    for (const scenario of only) {
      try {
        const { proc } = ctx.server;
        if (exited(proc)) throw new Error(`the server exited with ${proc.exitCode ?? proc.signalCode}`);
        const { rows: scenarioRows, notes: scenarioNotes, ...figures } = await scenarios[scenario](ctx);
        results[scenario] = { ...figures, notes: scenarioNotes };
        for (const row of scenarioRows) rows.push([scenario, row]);
      } catch (error) {
        problems.push(`${db} ${scenario}: could not run: ${(error as Error).message}`);
        results[scenario] = { error: (error as Error).message };
      }
    }
  } finally {
    await stop(relay.proc);
    if (floor) await stop(floor.proc);
    await stopServer(ctx?.server ?? server);
    if (db === "postgres") await dropScratchDb();
  }
  printTable(db, rows);
  return results;
}

// ---- output ----------------------------------------------------------------------------------------------

function format(cell: Cell | undefined): string {
  if (cell === null || cell === undefined) return "-";
  if (typeof cell === "string") return cell;
  if (!Number.isFinite(cell)) return "n/a";
  return Number.isInteger(cell) ? cell.toLocaleString("en-US") : cell.toFixed(2);
}

function printTable(db: Db, rows: [string, Row][]): void {
  const lines = [
    ["scenario", "figure", "baseline", "server", "server/baseline"],
    ...rows.map(([s, [f, b, v, r]]) => [s, f, format(b), format(v), format(r)]),
  ];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  console.log(
    `\n${db}: ${meta.commit}${meta.dirty ? " + uncommitted changes" : ""}, ${meta.date}, ${quick ? "quick" : "full"}, ${duration} s per run`,
  );
  for (const line of lines)
    console.log(line.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
  if (rows.some(([, [figure]]) => figure.startsWith("floor:"))) {
    console.log(
      "floor: rows: the storage floor (bench/floor.ts: the relay committing each frame first) in the server column",
    );
  }
}

async function machine() {
  const cpuinfo = await Bun.file("/proc/cpuinfo")
    .text()
    .catch(() => "");
  const git = (...args: string[]) => Bun.spawnSync(["git", "-C", ROOT, ...args], { stdout: "pipe", stderr: "ignore" });
  const rev = git("rev-parse", "--short", "HEAD");
  return {
    date: new Date().toISOString().slice(0, 10),
    commit: rev.exitCode === 0 ? rev.stdout.toString().trim() : "unknown",
    // src/ is being changed while benchmarks run: say whether the figures are for the commit or the working tree.
    dirty: git("status", "--porcelain", "--", "src").stdout.toString().trim() !== "",
    bun: Bun.version,
    nproc: availableParallelism(),
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    memoryGB: Math.round(totalmem() / 2 ** 30),
    wrk: Bun.which("wrk") !== null,
    // Anything else running on the machine shows up here (and in the figures).
    loadavgBefore: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

// ---- main ------------------------------------------------------------------------------------------------

const meta = await machine();
await mkdir(RESULTS, { recursive: true });
// Idle sockets need a descriptor each on both ends; raise the limit for us and our children when we can.
const wantFiles = SIZE.idleSockets + 2000;
if (only.includes("connections") && (await openFileLimit()) < wantFiles && Bun.which("prlimit")) {
  Bun.spawnSync(["prlimit", `--pid=${process.pid}`, `--nofile=${wantFiles}:${wantFiles}`], { stderr: "ignore" });
}
const results: Record<string, unknown> = {};
try {
  for (const db of dbs) {
    try {
      results[db] = await runDatabase(db);
    } catch (error) {
      problems.push(`${db}: could not run: ${(error as Error).message}`);
    }
  }
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
const loadavgAfter = loadavg().map((l) => Math.round(l * 100) / 100);
const report = {
  ...meta,
  loadavgAfter,
  mode: quick ? "quick" : "full",
  duration,
  sizes: SIZE,
  results,
  problems,
  notes,
};
await Bun.write(join(RESULTS, "latest.json"), `${JSON.stringify(report, null, 2)}\n`);
console.log("");
for (const note of notes) console.log(`note: ${note}`);
for (const problem of problems) console.log(`PROBLEM: ${problem}`);
console.log(JSON.stringify(report));
process.exit(problems.length ? 1 : 0);
