// Preloaded into the server child of the socket-cycle fault test: SIGUSR2 runs a full garbage collection, so the
// test measures memory that is still held, not memory a lazy collector has not got round to yet.
process.on("SIGUSR2", () => Bun.gc(true));
