// The browser client and Swagger UI in Debian's Chromium driven by playwright-core (no browser download): two
// people chat through /chat, one drops offline and on return sees exactly what it missed; /docs renders and
// authorizes from our own assets. No request may leave 127.0.0.1.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { createTestApp, dialect, type TestApp } from "./support.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

let t: TestApp;
let base: string;
let browser: Browser | undefined;
/** Every request a page tried to send anywhere but this server (aborted). */
const foreign: string[] = [];

beforeAll(async () => {
  t = await createTestApp();
  t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
  base = `http://127.0.0.1:${t.app.server!.port}`;
  if (existsSync(CHROMIUM)) browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
  await t.app.stop(true);
  await t.dispose();
});

async function newContext(): Promise<BrowserContext> {
  const context = await browser!.newContext();
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(`${base}/`)) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  return context;
}

/** The stored messages a page shows, in order (pending ones excluded). */
const shown = (page: Page) => page.locator("#message-list > li.message[data-id] .content").allTextContents();

async function openRoom(page: Page, roomId: number): Promise<void> {
  await page.locator(`#room-list [data-room-id="${roomId}"]`).click();
  await page.locator('#connection-state[data-state="connected"]').waitFor();
}

async function send(page: Page, text: string): Promise<void> {
  await page.locator("#message-input").fill(text);
  await page.locator("#send-button").click();
  // Acknowledged and stored: the pending copy is replaced by the stored one.
  await page.locator("#message-list > li.message[data-id] .content", { hasText: text }).waitFor();
}

describe(`browser (${dialect})`, () => {
  test("Chromium is installed at /usr/bin/chromium (CI installs it with apt-get)", () => {
    expect(existsSync(CHROMIUM)).toBe(true);
  });

  test("two people chat; one goes offline, comes back and gets exactly what it missed", async () => {
    const admin = await t.user("host", { role: "admin" });
    const roomId = (await t.request("POST", "/rooms/", { token: admin.token, body: { name: "lobby", description: "Say hi" } })).json.id;
    await t.request("POST", `/rooms/${roomId}/messages`, { token: admin.token, body: { content: "welcome" } });
    await t.user("bob");

    const aliceContext = await newContext();
    const bobContext = await newContext();
    const alice = await aliceContext.newPage();
    const bob = await bobContext.newPage();
    try {
      await alice.goto(`${base}/chat`);
      await alice.locator("#show-signup").click();
      await alice.locator("#signup-username").fill("alice");
      await alice.locator("#signup-email").fill("alice@example.com");
      await alice.locator("#signup-password").fill("alice-password");
      await alice.locator("#signup-button").click();
      await alice.locator("#chat-view").waitFor();

      await bob.goto(`${base}/chat`);
      await bob.locator("#login-username").fill("bob");
      await bob.locator("#login-password").fill("bob-password");
      await bob.locator("#login-button").click();
      await bob.locator("#chat-view").waitFor();

      await openRoom(alice, roomId);
      await openRoom(bob, roomId);
      await send(alice, "hi bob");
      await bob.locator("#message-list .content", { hasText: "hi bob" }).waitFor();
      await send(bob, "hi alice");
      await alice.locator("#message-list .content", { hasText: "hi alice" }).waitFor();

      await bobContext.setOffline(true);
      await bob.locator('#connection-state[data-state="offline"]').waitFor();
      const missed = ["while you were out 1", "while you were out 2", "while you were out 3"];
      for (const text of missed) await send(alice, text);
      expect(await shown(bob)).not.toContain(missed[0]);

      await bobContext.setOffline(false);
      await bob.locator('#connection-state[data-state="connected"]').waitFor();
      await bob.locator("#message-list .content", { hasText: missed[2]! }).waitFor();
      const expected = ["welcome", "hi bob", "hi alice", ...missed];
      expect(await shown(bob)).toEqual(expected);
      expect(await shown(alice)).toEqual(expected);
      expect(await bob.locator("#message-list > [data-client-id]").count()).toBe(0);
    } finally {
      await aliceContext.close();
      await bobContext.close();
    }
    expect(foreign).toEqual([]);
  });

  test("/docs renders every operation from our own assets, and Authorize carries the bearer token", async () => {
    const { token } = await t.user("docs-reader");
    const context = await newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    try {
      await page.goto(`${base}/docs`);
      await page.locator(".opblock").first().waitFor();
      expect(await page.locator(".opblock").count()).toBeGreaterThanOrEqual(10);

      await page.locator(".auth-wrapper .authorize").click();
      await page.locator(".modal-ux input").fill(token);
      await page.locator(".modal-ux .auth-btn-wrapper .authorize").click();
      await page.locator(".modal-ux .btn-done").click();

      const me = page.locator(".opblock-get", { has: page.locator('.opblock-summary-path[data-path="/auth/me"]') });
      await me.locator(".opblock-summary").click();
      await me.locator(".try-out__btn").click();
      await me.locator(".execute").click();
      await me.locator(".live-responses-table .response-col_status", { hasText: "200" }).waitFor();
      expect(await me.locator(".live-responses-table .microlight").first().textContent()).toContain('"docs-reader"');

      // persistAuthorization: the token survives a reload.
      await page.reload();
      await page.locator(".opblock").first().waitFor();
      expect(await page.locator(".auth-wrapper .authorize.locked").count()).toBe(1);
    } finally {
      await context.close();
    }
    expect(errors).toEqual([]);
    expect(foreign).toEqual([]);
  });
});
