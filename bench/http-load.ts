// HTTP read load for the history scenario: wrk when installed, else an in-process fetch loop; one report shape.

export interface HttpReport {
  tool: "wrk" | "fetch";
  requests: number;
  seconds: number;
  perSec: number;
  latencyMs: { p50: number; p99: number };
  /** Answers other than 2xx/3xx. */
  non2xx: number;
  /** Connect, read, write and timeout errors. */
  errors: number;
}

export async function httpLoad(
  url: string,
  options: { connections: number; seconds: number; headers?: Record<string, string> },
): Promise<HttpReport> {
  const wrk = Bun.which("wrk");
  return wrk ? runWrk(wrk, url, options) : fetchLoop(url, options);
}

async function runWrk(
  wrk: string,
  url: string,
  options: { connections: number; seconds: number; headers?: Record<string, string> },
): Promise<HttpReport> {
  const headerArgs = Object.entries(options.headers ?? {}).flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
  const seconds = Math.max(1, Math.round(options.seconds));
  const proc = Bun.spawn([wrk, "-t1", `-c${options.connections}`, `-d${seconds}s`, "--latency", ...headerArgs, url], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), (seconds + 15) * 1000);
  const [out, err] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  const perSec = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
  if (proc.exitCode !== 0 || !perSec)
    throw new Error(`wrk failed (${proc.exitCode}): ${(err || out).trim().slice(0, 300)}`);
  const done = /(\d+) requests in ([\d.]+)(\w+)/.exec(out);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    tool: "wrk",
    requests: Number(done?.[1] ?? 0),
    seconds: done ? toMs(done[2]!, done[3]!) / 1000 : seconds,
    perSec: Math.round(Number(perSec)),
    latencyMs: { p50: percentile(out, "50%"), p99: percentile(out, "99%") },
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    errors: socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

function percentile(wrkOutput: string, label: string): number {
  const match = new RegExp(`^\\s+${label}\\s+([\\d.]+)(\\w+)`, "m").exec(wrkOutput);
  return match ? Math.round(toMs(match[1]!, match[2]!) * 100) / 100 : NaN;
}

function toMs(value: string, unit: string): number {
  const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
  return Number(value) * (scale[unit] ?? NaN);
}

async function fetchLoop(
  url: string,
  options: { connections: number; seconds: number; headers?: Record<string, string> },
): Promise<HttpReport> {
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const start = performance.now();
  const end = start + options.seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const sent = performance.now();
      try {
        const response = await fetch(url, { headers: options.headers, signal: AbortSignal.timeout(2000) });
        await response.arrayBuffer();
        if (response.status >= 400) non2xx++;
        latencies.push(performance.now() - sent);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (p: number) =>
    Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN) * 100) / 100;
  return {
    tool: "fetch",
    requests: latencies.length,
    seconds,
    perSec: Math.round(latencies.length / seconds),
    latencyMs: { p50: at(0.5), p99: at(0.99) },
    non2xx,
    errors,
  };
}
