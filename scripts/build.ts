// Builds the single executable (dist/chat-server): migrations, Swagger UI and the browser client are inside it.
// The Dockerfile runs this same script, so the two cannot drift. No minification: Elysia reads its handlers'
// source (e.g. `resolve({ headers })`) to decide what to parse, and a minified build answered every guarded
// route with 500 (test/executable.test.ts walks the seed README against the executable to catch it).
// Bytecode: the modules are compiled to JavaScriptCore bytecode at build time, so start-up skips parsing them
// (the source stays inside too, for Elysia's reading of it). Measured, spawn to the first 200 on /ready, median
// of 7 alternating runs: SQLite 105 -> 53 ms, PostgreSQL 159 -> 84 ms; the executable grows 115 -> 120 MB.
// ESM output, since bytecode needs it for top-level await.
// --sourcemap embeds the map in the executable (its stack traces name src/ files and lines with nothing beside it),
// and also writes <outfile>.map (and a map per worker), which nothing reads: removed, so the build leaves one file.
import { $ } from "bun";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

const outfile = process.argv[2] ?? "dist/chat-server";
// The workers (src/workers.ts) are entry points of their own inside it.
const workers = ["./src/store/sqlite/search-worker.ts", "./src/store/postgres/search-worker.ts"];
const folder = dirname(resolve(outfile));
const before = new Set(existsSync(folder) ? readdirSync(folder) : []);
await $`bun build --compile --bytecode --format=esm --sourcemap ./src/main.ts ${workers} --outfile ${outfile}`;
// The maps the build wrote beside it (the executable's and each worker's).
for (const name of readdirSync(folder))
  if (name.endsWith(".map") && !before.has(name)) rmSync(join(folder, name), { force: true });
console.log(`built ${outfile}`);
