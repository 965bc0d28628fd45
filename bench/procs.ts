// Child processes for bench/run.ts: spawn, wait for /health, read JSON output, RSS, and stop everything on exit.
import type { Subprocess } from "bun";

const live = new Set<Subprocess>();

/**
 * The chat server's limits per person (README, Configuration), lifted for the server under load: a load generator
 * sends for many people at once from one address, and the benchmarks measure the server, not its limits.
 */
export const NO_PERSON_LIMITS = {
  RATE_MESSAGES_PER_SECOND: "1000000",
  RATE_MESSAGE_BURST: "1000000",
  MAX_SOCKETS_PER_USER: "0",
  RATE_SIGNUPS_PER_ADDRESS: "0",
};

/** Kills every child still running (SIGKILL): used when the run is interrupted or over its time budget. */
export function killAll(): void {
  for (const proc of live) proc.kill("SIGKILL");
  live.clear();
}

export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Service output goes to `<log>.out` and `<log>.err` (read after the run for errors) instead of pipes. */
  log?: string;
  stdin?: "pipe" | "ignore";
  stderr?: "pipe" | "inherit";
}

export function spawn(cmd: string[], options: SpawnOptions = {}) {
  const proc = Bun.spawn(cmd, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdin: options.stdin ?? "ignore",
    stdout: options.log ? Bun.file(`${options.log}.out`) : "pipe",
    stderr: options.log ? Bun.file(`${options.log}.err`) : (options.stderr ?? "pipe"),
  });
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return proc;
}

export const exited = (proc: Subprocess): boolean => proc.exitCode !== null || proc.signalCode !== null;

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stop(proc: Subprocess, graceMs = 8000): Promise<void> {
  if (exited(proc)) return;
  proc.kill("SIGTERM");
  const stopped = await Promise.race([proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (!stopped) proc.kill("SIGKILL");
  await proc.exited;
}

export async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** Polls `url` until it answers 200; returns the milliseconds since `since`. Throws if the process exits first. */
export async function waitFor200(
  url: string,
  proc: Subprocess,
  since: number,
  timeoutMs = 30_000,
  everyMs = 2,
): Promise<number> {
  while (performance.now() - since < timeoutMs) {
    if (exited(proc)) throw new Error(`exited (${proc.exitCode ?? proc.signalCode}) before ${url} answered`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) return performance.now() - since;
    } catch {
      // not listening yet
    }
    await Bun.sleep(everyMs);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

/** Reads a stream line by line; `next()` waits for the next line (undefined at the end or after `timeoutMs`). */
export function lineReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let ended = false;
  let pending: ReturnType<typeof reader.read> | undefined;
  return async function next(timeoutMs: number): Promise<string | undefined> {
    const deadline = performance.now() + timeoutMs;
    while (!buffer.includes("\n") && !ended) {
      // The read survives a timeout, so no chunk is dropped by the next call.
      pending ??= reader.read();
      const left = deadline - performance.now();
      const result = left > 0 ? await Promise.race([pending, Bun.sleep(left).then(() => undefined)]) : undefined;
      if (!result) return undefined;
      pending = undefined;
      if (result.done) ended = true;
      else buffer += decoder.decode(result.value, { stream: true });
    }
    const cut = buffer.indexOf("\n");
    if (cut < 0 && buffer === "") return undefined; // ended
    const line = cut < 0 ? buffer : buffer.slice(0, cut);
    buffer = cut < 0 ? "" : buffer.slice(cut + 1);
    return line;
  };
}

/** Runs a tool that prints one JSON line on stdout; kills it after `timeoutMs`. */
export async function runJson<T>(
  cmd: string[],
  timeoutMs: number,
): Promise<{ json?: T; code: number | null; stderr: string }> {
  const proc = spawn(cmd);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr] = await Promise.all([
    new Response(proc.stdout as ReadableStream).text(),
    new Response(proc.stderr as ReadableStream).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  const line = stdout.split("\n").findLast((l) => l.startsWith("{"));
  return { json: line ? (JSON.parse(line) as T) : undefined, code: proc.exitCode, stderr };
}

/** Resident set size of a process in bytes (VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

/** The soft limit on open files of this process (children inherit it). */
export async function openFileLimit(pid: number | "self" = "self"): Promise<number> {
  const limits = await Bun.file(`/proc/${pid}/limits`).text();
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  return soft === "unlimited" || soft === undefined ? Infinity : Number(soft);
}

/**
 * One chat server (bench/serve.ts) on `databaseUrl` for the several-instance benches, with the per-person limits
 * lifted; `started` gets its process at once (so an interrupted start is still stopped). Resolves to its http URL
 * once /health answers. Its request log goes to `<log>.out`: an undrained pipe would stall the server.
 */
export async function startInstance(databaseUrl: string, log: string, started: Subprocess[]): Promise<string> {
  const port = await freePort();
  const proc = spawn([process.execPath, `${import.meta.dir}/serve.ts`], {
    cwd: `${import.meta.dir}/..`,
    log,
    env: {
      NODE_ENV: "production",
      HOST: "127.0.0.1",
      PORT: String(port),
      SECRET_KEY: "bench-instances-secret-key-0123456789abcdef",
      DATABASE_URL: databaseUrl,
      BCRYPT_COST: "4",
      ...NO_PERSON_LIMITS,
    },
  });
  started.push(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitFor200(`${url}/health`, proc, performance.now(), 30_000, 20);
  return url;
}
