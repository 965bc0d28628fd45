// Builds the single executable (dist/chat-server): migrations, Swagger UI and the browser client are inside it.
// The Dockerfile runs this same script, so the two cannot drift. No minification: Elysia reads its handlers'
// source (e.g. `resolve({ headers })`) to decide what to parse, and a minified build answered every guarded
// route with 500 (test/executable.test.ts walks the seed README against the executable to catch it).
import { $ } from "bun";

const outfile = process.argv[2] ?? "dist/chat-server";
await $`bun build --compile --sourcemap ./src/main.ts --outfile ${outfile}`;
console.log(`built ${outfile}`);
