// Bare-Bun baseline for history reads: answers every GET with the bytes of one JSON file, nothing else.
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { file: { type: "string" }, port: { type: "string", default: "0" } } });
if (!values.file) {
  console.error("usage: bun bench/bare-page.ts --file <page.json> [--port 0]");
  process.exit(2);
}
const body = await Bun.file(values.file).bytes();
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(values.port),
  fetch(req) {
    if (new URL(req.url).pathname === "/health") return Response.json({ status: "healthy" });
    return new Response(body, { headers: { "content-type": "application/json" } });
  },
});
console.log(`listening ${server.port}`);
