// The floor's checkpoints on a thread of their own (bench/floor.ts --checkpoint worker), as the chat server's search
// indexer runs them: a passive checkpoint every 50 ms, RESTART once the WAL holds more than 2,000 pages.
import { Database } from "bun:sqlite";

declare const self: Worker;
let db: Database | undefined;
let timer: ReturnType<typeof setInterval> | undefined;
self.onmessage = (event: MessageEvent<{ path?: string; stop?: boolean }>) => {
  if (event.data.path) {
    db = new Database(event.data.path, { strict: true });
    db.run("PRAGMA busy_timeout = 5000");
    db.run("PRAGMA synchronous = NORMAL");
    db.run("PRAGMA wal_autocheckpoint = 0");
    const passive = db.query<{ busy: number; log: number; checkpointed: number }, []>("PRAGMA wal_checkpoint(PASSIVE)");
    const restart = db.query("PRAGMA wal_checkpoint(RESTART)");
    timer = setInterval(() => {
      if (passive.get()!.log > 2000) restart.get();
    }, 50);
  }
  if (event.data.stop) {
    clearInterval(timer);
    db?.run("PRAGMA wal_checkpoint(TRUNCATE)");
    db?.close(true);
    process.exit(0);
  }
};
