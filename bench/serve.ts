// Starts the chat server exactly as `bun src/main.ts serve` does (no arguments means serve). The bench spawns
// this file so that its command line does not contain "src/main.ts": other sessions on a shared machine stop
// their own servers with `pkill -f src/main.ts`, which would also stop the bench's server mid-run.
import "../src/main.ts";
