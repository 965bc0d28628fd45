// The search indexer on a thread of its own: folding words and writing the index cost more than storing the
// message itself, so the thread that answers sockets only tells the indexer that messages were stored, and asks
// it to catch up before a search. The store's transactions stay on its own thread and connection.

/** What a store needs of its indexer, wherever it runs. */
export interface SearchIndexer {
  /** Messages were stored: index them soon, with those that follow them. */
  soon(): void;
  /** Resolves once every message stored before the call is indexed. */
  catchUp(): Promise<void>;
  /** Indexes what is left and lets go of the database. */
  stop(): Promise<void>;
}

type Request = { kind: "start"; config: unknown } | { kind: "soon" } | { kind: "catchUp" | "stop"; id: number };
type Reply = { id: number; error?: string };

/** Starts `entry` (a module that calls serveIndexer) in a worker and talks to it. */
export function indexerThread(entry: URL, config: unknown): SearchIndexer {
  const worker = new Worker(entry);
  // A store left open must not keep the process alive for its indexer; while an answer is awaited, though, the
  // worker is held: awaiting an unheld worker's answer kept Bun's main thread busy the whole time (measured: 990 ms
  // of CPU for a 1 s wait).
  const held = worker as unknown as { ref(): void; unref(): void };
  held.unref();
  const waiting = new Map<number, { resolve(): void; reject(error: Error): void }>();
  let next = 0;
  let failed: Error | undefined;
  worker.onmessage = (event: MessageEvent<Reply>) => {
    const { id, error } = event.data;
    const waiter = waiting.get(id);
    waiting.delete(id);
    if (waiting.size === 0) held.unref();
    if (error === undefined) waiter?.resolve();
    else waiter?.reject(new Error(`search indexer: ${error}`));
  };
  worker.onerror = (event) => {
    failed = new Error(`search indexer: ${event.message}`);
    for (const waiter of waiting.values()) waiter.reject(failed);
    waiting.clear();
    held.unref();
  };
  worker.postMessage({ kind: "start", config } satisfies Request);
  let stopping: Promise<void> | undefined;
  const ask = (kind: "catchUp" | "stop") =>
    failed
      ? Promise.reject(failed)
      : stopping && kind === "catchUp"
        ? Promise.reject(new Error("search indexer: the store is closed"))
        : new Promise<void>((resolve, reject) => {
            const id = next++;
            if (waiting.size === 0) held.ref();
            waiting.set(id, { resolve, reject });
            worker.postMessage({ kind, id } satisfies Request);
          });
  return {
    soon: () => worker.postMessage({ kind: "soon" } satisfies Request),
    catchUp: () => ask("catchUp"),
    stop() {
      stopping ??= ask("stop").finally(() => worker.terminate());
      return stopping;
    },
  };
}

/** The worker's side: `open` makes the indexer from the config indexerThread was given. */
export function serveIndexer<Config>(open: (config: Config) => SearchIndexer) {
  let indexer: SearchIndexer | undefined;
  let opening: Error | undefined;
  const reply = (message: Reply) => postMessage(message);
  self.onmessage = async (event: MessageEvent<Request>) => {
    const request = event.data;
    if (request.kind === "start") {
      try {
        indexer = open(request.config as Config);
      } catch (error) {
        opening = error as Error;
      }
      return;
    }
    if (request.kind === "soon") return indexer?.soon();
    try {
      if (!indexer) throw opening ?? new Error("not started");
      await (request.kind === "stop" ? indexer.stop() : indexer.catchUp());
      reply({ id: request.id });
    } catch (error) {
      reply({ id: request.id, error: (error as Error).message ?? String(error) });
    }
  };
}
