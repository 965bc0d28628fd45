// Takes docs/chat-desktop.png (1280x800) and docs/chat-phone.png (360x740): the chat client on a seeded in-memory
// server, in the Chromium the browser tests use (test/chromium.ts). Run `bun scripts/screenshots.ts` after visible
// changes to src/web/client/.
import { join } from "node:path";
import { chromium } from "playwright-core";
import { createApp } from "../src/app.ts";
import { openSqliteStore } from "../src/store/sqlite/store.ts";
import { CHROMIUM_ARGS, findChromium } from "../test/chromium.ts";

const chromiumLookup = findChromium();
if (!chromiumLookup.found) throw new Error(chromiumLookup.reason);

const DOCS = join(import.meta.dir, "..", "docs");
const store = openSqliteStore(":memory:");
const { app } = await createApp({
  store,
  config: {
    secretKey: "screenshot-secret-key-0123456789abcdef",
    accessTokenTtlSeconds: 3600,
    bcryptCost: 4,
    corsOrigins: "*",
  },
  log: () => {},
});
app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
const base = `http://127.0.0.1:${app.server!.port}`;

async function call(method: string, path: string, body: unknown, token?: string) {
  const response = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function account(username: string, role?: "admin"): Promise<string> {
  await call("POST", "/auth/signup", {
    username,
    email: `${username}@example.com`,
    password: `${username}-password`,
    role,
  });
  return (await call("POST", "/auth/login", { username, password: `${username}-password` })).access_token;
}

const ada = await account("ada", "admin");
const grace = await account("grace");
const linus = await account("linus");
const general = await call("POST", "/rooms/", { name: "general", description: "Anything goes" }, ada);
await call("POST", "/rooms/", { name: "release-planning", description: "What ships on Friday" }, ada);
await call("POST", "/rooms/", { name: "random", description: null }, ada);
const conversation: [string, string][] = [
  [grace, "Morning! Is the build green again?"],
  [linus, "Yes, the flaky socket test was waiting on a sleep instead of an event. Fixed."],
  [ada, "Nice. The container image is down to one executable now, docs and client included."],
  [grace, "Does /ready check the migrations too?"],
  [ada, "It does: ping, then the newest migration must be recorded. 503 with a reason otherwise."],
  [linus, "I'll point the load balancer at it after lunch. Notes: https://example.com/runbook"],
];
for (const [token, content] of conversation) await call("POST", `/rooms/${general.id}/messages`, { content }, token);
// A private room and a direct message with news for ada, so the lists and unread counts show.
const design = await call(
  "POST",
  "/rooms/",
  { name: "design-review", description: "Private: the new sidebar", visibility: "private" },
  grace,
);
await call("POST", `/rooms/${design.id}/members`, { username: "ada" }, grace);
for (const content of ["Mock-ups are up.", "Unread counts now sit beside each room."]) {
  await call("POST", `/rooms/${design.id}/messages`, { content }, grace);
}
const direct = await call("POST", "/dms", { username: "ada" }, linus);
await call("POST", `/rooms/${direct.id}/messages`, { content: "Got a minute for the deploy?" }, linus);

const browser = await chromium.launch({
  executablePath: chromiumLookup.path,
  args: CHROMIUM_ARGS,
});
for (const [name, viewport] of [
  ["chat-desktop.png", { width: 1280, height: 800 }],
  ["chat-phone.png", { width: 360, height: 740 }],
] as const) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, colorScheme: "light" });
  // Signed in as ada: the client keeps its session in localStorage (src/web/client/session.ts).
  const pair = await call("POST", "/auth/login", { username: "ada", password: "ada-password" });
  await context.addInitScript(
    ({ access, refresh }) =>
      localStorage.setItem("chat.session", JSON.stringify({ access, refresh, refreshAt: Date.now() + 3_000_000 })),
    { access: pair.access_token as string, refresh: pair.refresh_token as string },
  );
  const page = await context.newPage();
  await page.goto(`${base}/chat#room=${general.id}`);
  await page.locator('#connection-state[data-state="connected"]').waitFor();
  await page
    .locator("#message-list > li.message[data-id]")
    .nth(conversation.length - 1)
    .waitFor();
  await page.screenshot({ path: join(DOCS, name) });
  await context.close();
  console.log(`wrote docs/${name}`);
}
await browser.close();
await app.stop(true);
await store.close();
