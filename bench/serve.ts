// Starts the chat server exactly as `bun src/main.ts serve` does (no arguments means serve). The bench spawns
// this file so that its command line does not contain "src/main.ts": other sessions on a shared machine stop
// their own servers with `pkill -f src/main.ts`, which would also stop the bench's server mid-run.
import "../src/main.ts";
// The connections scenario asks for a full collection before it reads RSS (the relay answers the same signal), so
// it compares memory still held, not garbage a lazy collector has not got round to.
process.on("SIGUSR2", () => Bun.gc(true));
