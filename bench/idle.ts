// Opens N idle WebSocket clients and holds them: prints one JSON line once all are settled, a second when
// stdin closes (then exits). Its own process, so the server's RSS and the client's CPU stay apart.
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    count: { type: "string", default: "100" },
    "token-file": { type: "string" },
    "room-ids": { type: "string", default: "1" },
    // Handshakes in progress at once: all N at once would overflow the listen backlog and time SYN retries.
    window: { type: "string", default: "100" },
    timeout: { type: "string", default: "60" },
  },
});
if (!values.url || !/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(values.url)) {
  console.error("idle: --url must be a loopback http://host:port");
  process.exit(2);
}
const count = Number(values.count);
const window = Number(values.window);
const tokens = values["token-file"] ? (await Bun.file(values["token-file"]).text()).split(/\s+/).filter(Boolean) : [];
const roomIds = values["room-ids"].split(",");
const wsBase = values.url.replace(/^http/, "ws");

const sockets: WebSocket[] = [];
let opened = 0;
let failed = 0;
let dropped = 0;
let firstError: string | undefined;
let next = 0;
let settle!: () => void;
const settled = new Promise<void>((resolve) => (settle = resolve));
const start = performance.now();
let end = start;
/** Joins tell the whole room (active_users, user_joined): the server is idle once those stop coming. */
let lastFrameAt = start;

// Socket i goes to a block of rooms (neighbours share a room) and takes tokens round-robin, so each room has many users.
const connect = (): void => {
  if (next >= count) return;
  const i = next++;
  const room = roomIds[Math.floor((i * roomIds.length) / count)]!;
  const token = tokens.length ? `?token=${encodeURIComponent(tokens[i % tokens.length]!)}` : "";
  const ws = new WebSocket(`${wsBase}/ws/${room}${token}`);
  let open = false;
  const done = () => {
    if (opened + failed === count) {
      end = performance.now();
      settle();
    } else connect();
  };
  ws.onopen = () => {
    open = true;
    opened++;
    done();
  };
  ws.onmessage = () => {
    lastFrameAt = performance.now();
  };
  ws.onclose = (event) => {
    if (open) return void dropped++;
    failed++;
    firstError ??= `close ${event.code} ${event.reason}`.trim();
    done();
  };
  sockets.push(ws);
};
for (let k = 0; k < Math.min(window, count); k++) connect();

const timeoutSeconds = Number(values.timeout);
await Promise.race([settled, Bun.sleep(timeoutSeconds * 1000)]);
if (opened + failed < count) {
  end = performance.now();
  firstError ??= `not settled within ${timeoutSeconds} s`;
}
const seconds = (end - start) / 1000;
// Quiet: no frame for a second (at most the timeout), so what the server holds is the sockets, not frames in flight.
while (performance.now() - lastFrameAt < 1000 && performance.now() - start < timeoutSeconds * 1000)
  await Bun.sleep(100);
const quietAfter = Math.round(performance.now() - end) / 1000;
console.log(
  JSON.stringify({
    count,
    opened,
    failed,
    seconds: Math.round(seconds * 1000) / 1000,
    perSec: Math.round(opened / seconds),
    quietAfter,
    firstError,
  }),
);

// Hold until the parent closes stdin (it measures the server meanwhile), never longer than the timeout.
await Promise.race([new Response(Bun.stdin.stream()).arrayBuffer(), Bun.sleep(timeoutSeconds * 1000)]);
console.log(JSON.stringify({ dropped }));
process.exit(0);
