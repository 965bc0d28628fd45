// Test support for real server processes: spawn `bun src/main.ts`, wait for its "listening" line, stop it.
import { afterAll, beforeAll } from "bun:test";
import { join } from "node:path";

const main = join(import.meta.dir, "..", "src", "main.ts");

export interface ServerProcess {
  child: Bun.Subprocess<"ignore", "pipe", "pipe">;
  port: number;
  url: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  stop(signal?: NodeJS.Signals | number): Promise<number>;
}

export function spawnMain(args: string[], env: Record<string, string>, cwd?: string) {
  return Bun.spawn(["bun", main, ...args], {
    cwd,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** Starts a server on a free port and resolves once it listens. */
export async function startServer(env: Record<string, string>, cwd?: string): Promise<ServerProcess> {
  const child = spawnMain(
    ["serve"],
    {
      HOST: "127.0.0.1",
      PORT: "0",
      SECRET_KEY: "cluster-test-secret-key-0123456789abcdef",
      BCRYPT_COST: "4",
      ...env,
    },
    cwd,
  );
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk);
  };
  void pump(child.stdout);
  void pump(child.stderr);
  const deadline = Date.now() + 15_000;
  let port = 0;
  while (!port) {
    const match = /listening on http:\/\/[^:]+:(\d+)/.exec(text);
    if (match) port = Number(match[1]);
    else if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${text}`);
    else await Bun.sleep(20);
  }
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => text,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null) child.kill(signal);
      return child.exited;
    },
  };
}

/** JSON over HTTP against a running server. */
export async function call(base: string, method: string, path: string, body?: unknown, token?: string) {
  const response = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

/** Signs up and logs in; the first account of a database may be admin. */
export async function account(base: string, username: string, role?: "admin") {
  await call(base, "POST", "/auth/signup", {
    username,
    email: `${username}@example.com`,
    password: "password123",
    role,
  });
  const login = await call(base, "POST", "/auth/login", { username, password: "password123" });
  if (login.status !== 200) throw new Error(`login ${username}: ${JSON.stringify(login.json)}`);
  return { username, token: login.json.access_token as string };
}

/** Server processes sharing one scratch PostgreSQL database (runs on PostgreSQL only); `stop` kills them and drops it. */
export async function startCluster(count: number, env: Record<string, string> = {}) {
  const { openTestStore } = await import("./support.ts");
  const store = await openTestStore();
  const servers = await Promise.all(
    Array.from({ length: count }, () => startServer({ DATABASE_URL: store.scratchUrl!, ...env })),
  );
  return {
    servers,
    /** The database they share, for tests that act on it directly. */
    scratchUrl: store.scratchUrl!,
    async stop() {
      await Promise.all(servers.map((s) => s.stop("SIGKILL")));
      await store.dispose();
    },
  };
}

/**
 * `count` server processes on one scratch PostgreSQL database for the tests of the enclosing describe (started before
 * them, stopped after): read `servers` and `scratchUrl` inside a test.
 */
export function useCluster(count = 2, env: Record<string, string> = {}) {
  const state = { servers: [] as ServerProcess[], scratchUrl: "" };
  let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
  beforeAll(async () => {
    cluster = await startCluster(count, env);
    Object.assign(state, { servers: cluster.servers, scratchUrl: cluster.scratchUrl });
  });
  afterAll(() => cluster?.stop());
  return state;
}
