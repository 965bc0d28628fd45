// WebSocket load generator: rooms of clients keep messages in flight; reports throughput, delivery latency, loss.
import { parseArgs } from "node:util";

export interface LoadOptions {
  /** Base http(s) URL of the server; must be loopback. Several, comma-separated: clients take them in turn. */
  url: string;
  rooms?: number;
  /** Clients per room. */
  clients?: number;
  /** Messages each client keeps unacknowledged. */
  inflight?: number;
  /** Content length in bytes (at least the tag's length). */
  size?: number;
  /** Seconds of sending; ignored when `messages` is set. */
  duration?: number;
  /** Messages per client; sending stops when every client has sent this many. */
  messages?: number;
  /** One JWT per client, room-major; reused round-robin when there are fewer. */
  tokens?: string[];
  roomIds?: string[];
  /** Seconds to wait for outstanding acks and deliveries once sending stops. */
  drain?: number;
  connectTimeout?: number;
}

export interface LoadReport {
  url: string;
  rooms: number;
  clients: number;
  inflight: number;
  size: number;
  /** From the first send to the last ack. */
  seconds: number;
  sent: number;
  acked: number;
  /** Messages answered with an error frame that names their client_id. */
  refused: number;
  ackedPerSec: number;
  deliveries: number;
  deliveriesPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  lost: number;
  duplicated: number;
  /** `message` frames this run did not send (history on join, other writers). */
  foreign: number;
  errors: { frames: number; closes: Record<string, number>; stalled: boolean; first?: string };
  ok: boolean;
}

// 10 µs buckets up to 10 s: percentiles without keeping a sample per delivery.
const BUCKET_MS = 0.01;
const BUCKETS = 1_000_000;

class Room {
  readonly serials = new Map<string, number>();
  readonly sentAt: number[] = [];
  /** Bit `serial * members + member` is set once that member got that message. */
  seen = new Uint8Array(4096);
  constructor(
    readonly id: string,
    readonly members: number,
  ) {}

  register(clientId: string, at: number): void {
    const serial = this.sentAt.length;
    this.sentAt.push(at);
    this.serials.set(clientId, serial);
    const bytesNeeded = (((serial + 1) * this.members) >>> 3) + 1;
    if (bytesNeeded > this.seen.length) {
      const grown = new Uint8Array(Math.max(bytesNeeded, this.seen.length * 2));
      grown.set(this.seen);
      this.seen = grown;
    }
  }
}

interface Client {
  room: Room;
  member: number;
  /** Every client_id this client sends starts with it, so acks are matched without a lookup. */
  prefix: string;
  sent: number;
  done: boolean;
  ws: WebSocket;
}

type Frame = { type?: string; client_id?: string; detail?: unknown; code?: unknown };

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const rooms = options.rooms ?? options.roomIds?.length ?? 1;
  const perRoom = options.clients ?? 10;
  const inflight = options.inflight ?? 1;
  const size = options.size ?? 64;
  const limit = options.messages ?? Infinity;
  const duration = options.messages === undefined ? (options.duration ?? 5) : Infinity;
  const drainMs = (options.drain ?? 5) * 1000;
  const roomIds = options.roomIds ?? Array.from({ length: rooms }, (_, i) => String(i + 1));
  for (const [name, value] of Object.entries({ rooms, clients: perRoom, inflight, size })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  }
  if (roomIds.length !== rooms) throw new Error(`rooms is ${rooms} but ${roomIds.length} room ids were given`);
  if (!(limit > 0) || !(duration > 0)) throw new Error("messages and duration must be positive");
  const wsBases = options.url.split(",").map((u) => loopbackWsBase(u.trim()));

  // A fresh tag per run keeps client_ids unique, so a server's resend de-duplication never merges two runs.
  const run = (Date.now() % 1e9).toString(36) + Math.random().toString(36).slice(2, 6);
  const padding = "x".repeat(size);
  const histogram = new Uint32Array(BUCKETS);
  const stats = { sent: 0, acked: 0, refused: 0, deliveries: 0, duplicated: 0, foreign: 0, expected: 0 };
  const errors: LoadReport["errors"] = { frames: 0, closes: {}, stalled: false };
  let maxLatency = 0;
  let start = 0;
  let lastAck = 0;
  let lastDelivery = 0;
  let phase: "connecting" | "sending" | "draining" | "done" = "connecting";
  let doneClients = 0;
  let finished!: () => void;
  const finishedPromise = new Promise<void>((resolve) => (finished = resolve));
  const timers: Timer[] = [];

  const clients: Client[] = [];
  const roomStates = roomIds.map((id) => new Room(id, perRoom));
  for (const room of roomStates) {
    for (let member = 0; member < perRoom; member++) {
      const index = clients.length;
      const token = options.tokens?.length ? options.tokens[index % options.tokens.length] : undefined;
      const wsBase = wsBases[member % wsBases.length]!;
      const url = `${wsBase}/ws/${encodeURIComponent(room.id)}${token ? `?token=${encodeURIComponent(token)}` : ""}`;
      clients.push({ room, member, prefix: `${run}.${index}-`, sent: 0, done: false, ws: new WebSocket(url) });
    }
  }

  const send = (c: Client): void => {
    const clientId = c.prefix + c.sent++;
    const content = clientId.length >= size ? clientId : clientId + padding.substring(clientId.length);
    c.room.register(clientId, performance.now());
    stats.sent++;
    stats.expected += c.room.members;
    c.ws.send(`{"content":"${content}","client_id":"${clientId}"}`);
    if (c.sent >= limit) markDone(c);
  };

  const markDone = (c: Client): void => {
    if (c.done) return;
    c.done = true;
    if (++doneClients === clients.length) stopSending();
  };

  const stopSending = (): void => {
    if (phase !== "sending") return;
    phase = "draining";
    timers.push(setTimeout(finish, drainMs));
    maybeFinish();
  };

  const maybeFinish = (): void => {
    if (phase === "draining" && stats.acked + stats.refused === stats.sent && stats.deliveries === stats.expected)
      finish();
  };

  const finish = (): void => {
    if (phase === "done") return;
    phase = "done";
    finished();
  };

  const onDelivery = (c: Client, frame: Frame): void => {
    const room = c.room;
    const serial = frame.client_id === undefined ? undefined : room.serials.get(frame.client_id);
    if (serial === undefined) {
      stats.foreign++;
      return;
    }
    const bit = serial * room.members + c.member;
    const mask = 1 << (bit & 7);
    if (room.seen[bit >>> 3]! & mask) {
      stats.duplicated++;
      return;
    }
    room.seen[bit >>> 3]! |= mask;
    const now = performance.now();
    const latency = now - room.sentAt[serial]!;
    histogram[Math.min(BUCKETS - 1, Math.floor(latency / BUCKET_MS))]!++;
    if (latency > maxLatency) maxLatency = latency;
    stats.deliveries++;
    lastDelivery = now;
    if (phase === "draining") maybeFinish();
  };

  // An ack or a refusal frees one in-flight slot of the client it names.
  const onAnswer = (c: Client, refused: boolean): void => {
    if (refused) {
      stats.refused++;
      stats.expected -= c.room.members;
    } else {
      stats.acked++;
      lastAck = performance.now();
    }
    if (phase === "sending" && !c.done) send(c);
    else maybeFinish();
  };

  const onFrame = (c: Client, data: string): void => {
    const frame: Frame = JSON.parse(data);
    switch (frame.type) {
      case "message":
        return onDelivery(c, frame);
      case "ack":
        if (frame.client_id?.startsWith(c.prefix)) return onAnswer(c, false);
        stats.foreign++;
        return;
      case "error":
        errors.frames++;
        errors.first ??= `${String(frame.code)}: ${String(frame.detail)}`;
        if (frame.client_id?.startsWith(c.prefix)) onAnswer(c, true);
        return;
    }
  };

  const opened = clients.map(
    (c) =>
      new Promise<void>((resolve, reject) => {
        let open = false;
        c.ws.onopen = () => {
          open = true;
          resolve();
        };
        c.ws.onmessage = (event) => onFrame(c, event.data as string);
        c.ws.onclose = (event) => {
          if (!open) return reject(new Error(`${c.ws.url.split("?")[0]}: closed before open (code ${event.code})`));
          if (phase === "done") return;
          errors.closes[event.code] = (errors.closes[event.code] ?? 0) + 1;
          markDone(c);
        };
      }),
  );

  try {
    await Promise.race([
      Promise.all(opened),
      new Promise((_, reject) => {
        const seconds = options.connectTimeout ?? 10;
        timers.push(
          setTimeout(() => reject(new Error(`not every client connected within ${seconds} s`)), seconds * 1000),
        );
      }),
    ]);

    phase = "sending";
    start = performance.now();
    if (Number.isFinite(duration)) timers.push(setTimeout(stopSending, duration * 1000));
    // A server that stops answering must not keep a --messages run alive forever.
    let progress = -1;
    timers.push(
      setInterval(() => {
        if (phase === "sending" && stats.acked + stats.refused === progress) {
          errors.stalled = true;
          stopSending();
        }
        progress = stats.acked + stats.refused;
      }, drainMs),
    );
    for (let slot = 0; slot < inflight; slot++) for (const c of clients) if (!c.done) send(c);
    await finishedPromise;
  } finally {
    phase = "done";
    for (const timer of timers) clearTimeout(timer);
    await closeAll(clients);
  }

  const elapsed = (until: number) => Math.max(until - start, 1) / 1000;
  const closes = Object.values(errors.closes).reduce((a, b) => a + b, 0);
  const lost = stats.expected - stats.deliveries;
  return {
    url: options.url,
    rooms,
    clients: perRoom,
    inflight,
    size,
    seconds: round(elapsed(lastAck)),
    sent: stats.sent,
    acked: stats.acked,
    refused: stats.refused,
    ackedPerSec: Math.round(stats.acked / elapsed(lastAck)),
    deliveries: stats.deliveries,
    deliveriesPerSec: Math.round(stats.deliveries / elapsed(lastDelivery)),
    latencyMs: { ...percentiles(histogram, stats.deliveries), max: round(maxLatency) },
    lost,
    duplicated: stats.duplicated,
    foreign: stats.foreign,
    errors,
    ok: lost === 0 && stats.duplicated === 0 && errors.frames === 0 && closes === 0 && !errors.stalled,
  };
}

function loopbackWsBase(url: string): string {
  const parsed = new URL(url);
  if (!["127.0.0.1", "localhost", "[::1]"].includes(parsed.hostname)) {
    throw new Error(`refusing to load a non-loopback host: ${parsed.hostname}`);
  }
  return url.replace(/^http/, "ws").replace(/\/+$/, "");
}

function percentiles(histogram: Uint32Array, count: number) {
  const targets = [0.5, 0.9, 0.99].map((p) => Math.max(1, Math.ceil(p * count)));
  const found: number[] = [];
  let seen = 0;
  for (let bucket = 0; bucket < histogram.length && found.length < targets.length; bucket++) {
    seen += histogram[bucket]!;
    while (found.length < targets.length && seen >= targets[found.length]!) found.push(round((bucket + 1) * BUCKET_MS));
  }
  const [p50 = 0, p90 = 0, p99 = 0] = found;
  return { p50, p90, p99 };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

async function closeAll(clients: Client[]): Promise<void> {
  const closed = clients.map((c) =>
    c.ws.readyState === WebSocket.CLOSED
      ? undefined
      : new Promise<void>((resolve) => c.ws.addEventListener("close", () => resolve())),
  );
  for (const c of clients) if (c.ws.readyState <= WebSocket.OPEN) c.ws.close(1000);
  await Promise.race([Promise.all(closed), Bun.sleep(1000)]);
}

export function formatReport(r: LoadReport): string {
  const closes =
    Object.entries(r.errors.closes)
      .map(([code, n]) => `${code}x${n}`)
      .join(" ") || "none";
  return [
    `${r.url}  ${r.rooms} rooms x ${r.clients} clients x ${r.inflight} in flight, ${r.size} B, ${r.seconds} s`,
    `sent        ${r.sent}   acked ${r.acked}   refused ${r.refused}`,
    `persisted   ${r.ackedPerSec} msg/s (acked)`,
    `deliveries  ${r.deliveries}   ${r.deliveriesPerSec}/s`,
    `latency ms  p50 ${r.latencyMs.p50}   p90 ${r.latencyMs.p90}   p99 ${r.latencyMs.p99}   max ${r.latencyMs.max}`,
    `lost        ${r.lost}   duplicated ${r.duplicated}   foreign ${r.foreign}`,
    `errors      frames ${r.errors.frames}${r.errors.first ? ` (${r.errors.first})` : ""}   closes ${closes}${r.errors.stalled ? "   STALLED" : ""}`,
    r.ok ? "ok" : "NOT OK",
  ].join("\n");
}

/** Turns command-line flags into options; throws on a bad value. */
export async function parseLoadArgs(argv: string[]): Promise<LoadOptions> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      url: { type: "string" },
      rooms: { type: "string" },
      clients: { type: "string" },
      inflight: { type: "string" },
      size: { type: "string" },
      duration: { type: "string" },
      messages: { type: "string" },
      drain: { type: "string" },
      "token-file": { type: "string" },
      "room-ids": { type: "string" },
    },
  });
  if (!values.url) throw new Error("--url is required");
  const num = (name: keyof typeof values): number | undefined => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${raw}`);
    return n;
  };
  let tokens: string[] | undefined;
  if (values["token-file"]) {
    const text = (await Bun.file(values["token-file"]).text()).trim();
    tokens = text.startsWith("[") ? JSON.parse(text) : text.split(/\s+/).filter(Boolean);
  }
  return {
    url: values.url,
    rooms: num("rooms"),
    clients: num("clients"),
    inflight: num("inflight"),
    size: num("size"),
    duration: num("duration"),
    messages: num("messages"),
    drain: num("drain"),
    tokens,
    roomIds: values["room-ids"]
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

if (import.meta.main) {
  try {
    const report = await runLoad(await parseLoadArgs(process.argv.slice(2)));
    // JSON on stdout for scripts; the table on stderr for people.
    console.log(JSON.stringify(report));
    console.error(formatReport(report));
    process.exit(report.ok ? 0 : 1);
  } catch (error) {
    console.error(`load: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  }
}
