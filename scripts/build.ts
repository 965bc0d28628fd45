// Builds the single executable (dist/chat-server): migrations, Swagger UI and the browser client are inside it.
// The Dockerfile runs this same script, so the two cannot drift.
import { $ } from "bun";

const outfile = process.argv[2] ?? "dist/chat-server";
await $`bun build --compile --minify --sourcemap ./src/main.ts --outfile ${outfile}`;
console.log(`built ${outfile}`);
