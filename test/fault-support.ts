// Fault-test support: the server as a child process, a private PostgreSQL cluster to stop and start, chat clients
// that track what was acked, history read back in full, and a process's memory and open files from /proc.
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { jsonOrUndefined } from "./support.ts";

const MAIN = join(import.meta.dir, "..", "src", "main.ts");
export const FAULT_SECRET = "fault-test-secret-key-0123456789abcdefghij";

/** Resolves when `check` holds, polling every `everyMs`; throws after `timeoutMs` with `what`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
  everyMs = 20,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}

// ---- the server as a child process

export interface ServerProcess {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  http: string;
  ws: string;
  /** The last lines the child wrote (stdout and stderr), for failure messages. */
  output: string[];
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** Keeps reading a child's stream (a full pipe would block it) and keeps its last lines. */
async function drain(
  stream: ReadableStream<Uint8Array>,
  lines: string[],
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of stream) {
    buffer += decoder.decode(chunk, { stream: true });
    const parts = buffer.split("\n");
    buffer = parts.pop() ?? "";
    for (const line of parts) {
      lines.push(line);
      if (lines.length > 200) lines.shift();
      onLine(line);
    }
  }
}

/** `bun src/main.ts serve` on a free port of 127.0.0.1; resolves once it says it is listening. */
export async function startServer(
  databaseUrl: string,
  env: Record<string, string> = {},
  preload?: string,
): Promise<ServerProcess> {
  const proc = Bun.spawn(["bun", ...(preload ? ["--preload", preload] : []), MAIN, "serve"], {
    env: {
      PATH: process.env.PATH!,
      HOME: process.env.HOME ?? tmpdir(),
      PORT: "0",
      HOST: "127.0.0.1",
      SECRET_KEY: FAULT_SECRET,
      BCRYPT_COST: "4",
      DATABASE_URL: databaseUrl,
      // These tests are load generators, not people: no limits per person (the defaults are tested elsewhere).
      RATE_MESSAGES_PER_SECOND: "1000000",
      RATE_MESSAGE_BURST: "1000000",
      MAX_SOCKETS_PER_USER: "0",
      RATE_SIGNUPS_PER_ADDRESS: "0",
      ...env,
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const output: string[] = [];
  const listening = Promise.withResolvers<number>();
  const onLine = (line: string) => {
    const port = /listening on http:\/\/[^:]+:(\d+)/.exec(line)?.[1];
    if (port) listening.resolve(Number(port));
  };
  void drain(proc.stdout, output, onLine);
  void drain(proc.stderr, output, onLine);
  void proc.exited.then((code) =>
    listening.reject(new Error(`server exited (${code}) before listening:\n${output.join("\n")}`)),
  );
  const timer = setTimeout(
    () => listening.reject(new Error(`server did not listen in 20 s:\n${output.join("\n")}`)),
    20_000,
  );
  const port = await listening.promise.finally(() => clearTimeout(timer));
  return {
    proc,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    output,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return proc.exited;
    },
  };
}

// ---- HTTP

export async function call(base: string, method: string, path: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: jsonOrUndefined(text), text };
}

/** An admin, one room, and one account per name with its token. */
export async function setUpChat(
  base: string,
  names: string[],
): Promise<{ roomId: number; adminToken: string; tokens: string[] }> {
  const account = async (username: string, role?: "admin") => {
    const password = `${username}-password`;
    const signup = await call(base, "POST", "/auth/signup", {
      username,
      email: `${username}@example.com`,
      password,
      role,
    });
    if (signup.status !== 201) throw new Error(`signup ${username}: ${signup.status} ${signup.text}`);
    return (await call(base, "POST", "/auth/login", { username, password })).json.access_token as string;
  };
  const adminToken = await account("admin", "admin");
  const room = await call(base, "POST", "/rooms/", { name: "faults" }, adminToken);
  if (room.status !== 201) throw new Error(`room: ${room.status} ${room.text}`);
  const tokens = await Promise.all(names.map((name) => account(name)));
  return { roomId: room.json.id, adminToken, tokens };
}

export interface StoredRow {
  id: number;
  client_id: string | null;
  content: string;
  user_id: number;
}

/** A room's whole history, paged back with `before=` as a client would. */
export async function readHistory(base: string, token: string, roomId: number): Promise<StoredRow[]> {
  const rows: StoredRow[] = [];
  for (let before: number | undefined; ; ) {
    const page = await call(
      base,
      "GET",
      `/rooms/${roomId}/messages?limit=100${before ? `&before=${before}` : ""}`,
      undefined,
      token,
    );
    if (page.status !== 200) throw new Error(`history: ${page.status} ${page.text}`);
    rows.push(...page.json);
    if (page.json.length < 100) return rows;
    before = page.json.at(-1).id;
  }
}

// ---- chat clients

/** A WebSocket chat client that knows, per client_id, whether it was acked (and with which id) or refused. */
export class ChatClient {
  readonly acked = new Map<string, number>();
  readonly refused = new Map<string, string>();
  readonly sentAt = new Map<string, number>();
  readonly answeredAt = new Map<string, number>();
  readonly latencies: number[] = [];
  /** client_ids of the message broadcasts this socket received. */
  readonly heard = new Set<string>();
  sends = 0;
  readonly events: { type: string; username?: string }[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;
  onOutcome: (clientId: string) => void = () => {};

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      const joined = (event: MessageEvent) => {
        if (String(event.data).startsWith('{"type":"active_users"')) {
          this.ws.removeEventListener("message", joined);
          resolve();
        }
      };
      this.ws.addEventListener("message", joined);
      this.ws.addEventListener("close", () => reject(new Error(`closed before joining ${url}`)));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => this.ws.addEventListener("close", (event) => resolve(event.code)));
    this.ws.addEventListener("message", (event) => this.receive(String(event.data)));
  }

  private receive(data: string): void {
    const frame = JSON.parse(data);
    if (frame.type === "message") {
      if (frame.client_id !== null) this.heard.add(frame.client_id);
    } else if (frame.type === "ack") {
      this.acked.set(frame.client_id, frame.id);
      this.answeredAt.set(frame.client_id, performance.now());
      const sent = this.sentAt.get(frame.client_id);
      if (sent !== undefined) this.latencies.push(performance.now() - sent);
      this.onOutcome(frame.client_id);
    } else if (frame.type === "error" && frame.client_id !== undefined) {
      this.refused.set(frame.client_id, frame.code);
      this.answeredAt.set(frame.client_id, performance.now());
      this.onOutcome(frame.client_id);
    } else {
      this.events.push({ type: frame.type, username: frame.username });
    }
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(clientId: string, content: string): void {
    this.refused.delete(clientId);
    this.sends++;
    this.sentAt.set(clientId, performance.now());
    this.ws.send(JSON.stringify({ content, client_id: clientId }));
  }

  /**
   * Sends every id not yet acked, at most `window` unanswered at once; a refused one goes to the back of the
   * queue. Resolves when all are acked; rejects if the socket closes first.
   */
  sendAll(clientIds: string[], content: (clientId: string) => string, window = 50): Promise<void> {
    const queue = clientIds.filter((id) => !this.acked.has(id));
    const waiting = new Set<string>();
    return new Promise((resolve, reject) => {
      const pump = () => {
        while (waiting.size < window && queue.length > 0 && this.isOpen) {
          const id = queue.shift()!;
          waiting.add(id);
          this.send(id, content(id));
        }
        if (queue.length === 0 && waiting.size === 0) resolve();
      };
      this.onOutcome = (id) => {
        if (!waiting.delete(id)) return;
        if (!this.acked.has(id)) queue.push(id);
        pump();
      };
      void this.closed.then((code) =>
        reject(new Error(`socket closed (${code}) with ${queue.length + waiting.size} not acked`)),
      );
      pump();
    });
  }

  close(): Promise<number> {
    this.ws.close();
    return this.closed;
  }
}

// ---- a private PostgreSQL cluster (never the machine's shared one)

export interface PrivatePostgres {
  port: number;
  url: string;
  start(): Promise<void>;
  /** Fast shutdown (SIGINT to the postmaster): clients are disconnected, committed data is kept. */
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const version = readdirSync(root).sort((a, b) => Number(b) - Number(a))[0];
  if (!version) throw new Error("no PostgreSQL under /usr/lib/postgresql");
  return join(root, version, "bin");
}

/** PostgreSQL refuses to run as root: as root, run it as the postgres user. */
function asPostgresUser(argv: string[]): string[] {
  return process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--", ...argv] : argv;
}

export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = listener;
  listener.stop(true);
  return port;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), "chat-pg-"));
  const data = join(dir, "data");
  if (process.getuid?.() === 0) {
    const uid = Number(Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim());
    const gid = Number(Bun.spawnSync(["id", "-g", "postgres"]).stdout.toString().trim());
    chownSync(dir, uid, gid);
  }
  const init = Bun.spawnSync(
    asPostgresUser([
      join(bin, "initdb"),
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "--no-sync",
      "-E",
      "UTF8",
      "--no-locale",
    ]),
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.stderr.toString()}`);
  const port = freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let proc: Bun.Subprocess | undefined;

  const answers = async () => {
    const sql = postgres(url, { max: 1, connect_timeout: 1, onnotice: () => {} });
    try {
      await sql`SELECT 1`;
      return true;
    } catch {
      return false;
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  };

  const cluster: PrivatePostgres = {
    port,
    url,
    async start() {
      proc = Bun.spawn(
        asPostgresUser([
          join(bin, "postgres"),
          "-D",
          data,
          "-p",
          String(port),
          "-k",
          dir,
          "-c",
          "listen_addresses=127.0.0.1",
          "-c",
          "fsync=off",
        ]),
        { stdin: "ignore", stdout: "ignore", stderr: "ignore" },
      );
      await until(answers, "the private PostgreSQL to accept connections", 20_000, 50);
    },
    async stop() {
      const pidFile = join(data, "postmaster.pid");
      if (!proc || !existsSync(pidFile)) return;
      // Under runuser the child is runuser itself; the postmaster's own pid is in its pid file.
      const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
      process.kill(pid, "SIGINT");
      await proc.exited;
      await until(() => !existsSync(pidFile), "the private PostgreSQL to stop", 20_000, 50);
    },
    async dispose() {
      await cluster.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await cluster.start();
  return cluster;
}

// ---- a process seen from outside

export function processFigures(pid: number): { rssMb: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(rssKb / 102.4) / 10, fds: readdirSync(`/proc/${pid}/fd`).length };
}
