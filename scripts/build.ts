// Builds the single executable (dist/chat-server): migrations, Swagger UI and the browser client are inside it.
// The Dockerfile runs this same script, so the two cannot drift. No minification: Elysia reads its handlers'
// source (e.g. `resolve({ headers })`) to decide what to parse, and a minified build answered every guarded
// route with 500 (test/executable.test.ts walks the seed README against the executable to catch it).
// Bytecode: the modules are compiled to JavaScriptCore bytecode at build time, so start-up skips parsing them
// (the source stays inside too, for Elysia's reading of it). Measured, spawn to the first 200 on /ready, median
// of 7 alternating runs: SQLite 105 -> 53 ms, PostgreSQL 159 -> 84 ms; the executable grows 115 -> 120 MB.
// ESM output, since bytecode needs it for top-level await.
// --sourcemap embeds the map in the executable (its stack traces name src/ files and lines with nothing beside it),
// and also writes <outfile>.map, which nothing reads: removed, so the build leaves one file.
import { $ } from "bun";
import { rmSync } from "node:fs";

const outfile = process.argv[2] ?? "dist/chat-server";
// The workers (src/workers.ts) are entry points of their own inside it.
const workers = ["./src/store/sqlite/search-worker.ts", "./src/store/postgres/search-worker.ts"];
await $`bun build --compile --bytecode --format=esm --sourcemap ./src/main.ts ${workers} --outfile ${outfile}`;
rmSync(`${outfile}.map`, { force: true });
console.log(`built ${outfile}`);
