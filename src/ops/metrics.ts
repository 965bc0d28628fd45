// The process's metrics and their Prometheus text exposition (format 0.0.4), written by hand: a few counters
// and fixed-bucket histograms need no client library.

/** A fixed-bucket histogram; `bounds` are the inclusive upper bounds (`le`), ascending. */
export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }
  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

interface RouteSeries {
  labels: string;
  byStatus: Map<number, number>;
  duration: Histogram;
}

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const routes = new Map<string, RouteSeries>();
  const batchSizes = new Histogram(BATCH_SIZE_BUCKETS);
  const commitSeconds = new Histogram(LATENCY_BUCKETS_SECONDS);

  return {
    /** `route` must be a route pattern (or a fixed word), never a raw path: each one is a time series. */
    observeRequest(method: string, route: string, status: number, seconds: number): void {
      const key = `${method} ${route}`;
      let series = routes.get(key);
      if (!series) {
        series = {
          labels: `method="${escapeLabel(method)}",route="${escapeLabel(route)}"`,
          byStatus: new Map(),
          duration: new Histogram(LATENCY_BUCKETS_SECONDS),
        };
        routes.set(key, series);
      }
      series.byStatus.set(status, (series.byStatus.get(status) ?? 0) + 1);
      series.duration.observe(seconds);
    },
    observeCommit(batchSize: number, seconds: number): void {
      batchSizes.observe(batchSize);
      commitSeconds.observe(seconds);
    },

    /** The exposition; `gauges` and `counters` are read at scrape time from their owners. */
    render(extra: {
      counters: Record<string, [help: string, value: number]>;
      gauges: Record<string, [help: string, value: number]>;
    }): string {
      const out: string[] = [];
      header(out, "http_requests_total", "counter", "HTTP requests by method, route pattern and status.");
      for (const { labels, byStatus } of routes.values()) {
        for (const [status, n] of byStatus) out.push(`http_requests_total{${labels},status="${status}"} ${n}`);
      }
      header(
        out,
        "http_request_duration_seconds",
        "histogram",
        "Time from the request's arrival to its response, by method and route pattern.",
      );
      for (const { labels, duration } of routes.values())
        histogram(out, "http_request_duration_seconds", labels, duration);
      header(out, "message_writer_batch_size", "histogram", "Messages per group commit.");
      histogram(out, "message_writer_batch_size", "", batchSizes);
      header(
        out,
        "message_writer_commit_seconds",
        "histogram",
        "Time from sending a batch to the database to its commit.",
      );
      histogram(out, "message_writer_commit_seconds", "", commitSeconds);
      for (const [name, [help, value]] of Object.entries(extra.counters)) {
        header(out, name, "counter", help);
        out.push(`${name} ${value}`);
      }
      for (const [name, [help, value]] of Object.entries(extra.gauges)) {
        header(out, name, "gauge", help);
        out.push(`${name} ${value}`);
      }
      return `${out.join("\n")}\n`;
    },
  };
}

function header(out: string[], name: string, type: string, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

function histogram(out: string[], name: string, labels: string, h: Histogram): void {
  const sep = labels ? `${labels},` : "";
  let cumulative = 0;
  h.bounds.forEach((bound, i) => {
    cumulative += h.counts[i]!;
    out.push(`${name}_bucket{${sep}le="${bound}"} ${cumulative}`);
  });
  out.push(`${name}_bucket{${sep}le="+Inf"} ${h.count}`);
  const braces = labels ? `{${labels}}` : "";
  out.push(`${name}_sum${braces} ${h.sum}`, `${name}_count${braces} ${h.count}`);
}

const escapeLabel = (value: string) => value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
