// The browser client and Swagger UI in Chromium driven by playwright-core (no browser download; test/chromium.ts
// finds one): the first person on an empty server becomes the admin in /chat and runs it from there; two people
// chat, one drops offline and on return sees exactly what it missed; /docs renders and authorizes from our own
// assets. No request may leave 127.0.0.1. Without Chromium these tests are skipped (CI=true: they fail).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chromium, type Browser, type BrowserContext, type Page, type WebSocket } from "playwright-core";
import { CHROMIUM_ARGS, findChromium } from "./chromium.ts";
import { createRequire } from "node:module";
import { createTestApp, dialect, type TestApp } from "./support.ts";

const lookup = findChromium();
const skip = !lookup.found && !lookup.required;
if (skip) console.warn(`browser tests skipped: ${lookup.reason}`);

let t: TestApp;
let base: string;
let browser: Browser | undefined;
/** Every request a page tried to send anywhere but this server (aborted). */
const foreign: string[] = [];

beforeAll(async () => {
  t = await createTestApp();
  t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
  base = `http://127.0.0.1:${t.app.server!.port}`;
  if (lookup.found) browser = await chromium.launch({ executablePath: lookup.path, args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
  await t.app.stop(true);
  await t.dispose();
});

async function newContext(server = base): Promise<BrowserContext> {
  const context = await browser!.newContext();
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(`${server}/`)) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  return context;
}

/** The stored messages a page shows, in order (pending ones excluded). */
const shown = (page: Page) => page.locator("#message-list > li.message[data-id] .content").allTextContents();

async function openRoom(page: Page, roomId: number): Promise<void> {
  await page.locator(`#sidebar [data-room-id="${roomId}"]`).click();
  await page.locator('#connection-state[data-state="connected"]').waitFor();
}

async function send(page: Page, text: string): Promise<void> {
  await page.locator("#message-input").fill(text);
  await page.locator("#send-button").click();
  // Acknowledged and stored: the pending copy is replaced by the stored one.
  await page.locator("#message-list > li.message[data-id] .content", { hasText: text }).waitFor();
}

async function signUp(page: Page, username: string): Promise<void> {
  await page.locator("#show-signup").click();
  await page.locator("#signup-username").fill(username);
  await page.locator("#signup-email").fill(`${username}@example.com`);
  await page.locator("#signup-password").fill(`${username}-password`);
  await page.locator("#signup-button").click();
  await page.locator("#chat-view").waitFor();
}

async function logIn(page: Page, username: string): Promise<void> {
  await page.goto(`${base}/chat`);
  // A database without an admin opens on the sign-up tab.
  await page.locator("#show-login").click();
  await page.locator("#login-username").fill(username);
  await page.locator("#login-password").fill(`${username}-password`);
  await page.locator("#login-button").click();
  await page.locator("#chat-view").waitFor();
}

const AXE_SOURCE = await Bun.file(createRequire(import.meta.url).resolve("axe-core/axe.min.js")).text();
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;

/** axe-core's serious and critical violations on the page as it is now (rule id: the elements it found). */
async function accessibilityProblems(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> };
      }
    ).axe;
    return (await axe.run()).violations;
  });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

/** A page session on a busy 2-core machine (the full suite runs beside it) takes seconds; Bun's default is 5. */
const BROWSER_TEST_MS = 30_000;

describe.skipIf(skip)(`browser (${dialect})`, () => {
  test("Chromium is found (CHROMIUM_PATH, /usr/bin/chromium or PATH)", () => {
    // Reached only where a browser is required (CI=true, or CHROMIUM_PATH set): the reason is the failure.
    expect(lookup.found ? "" : lookup.reason).toBe("");
  });

  test(
    "on an empty server the first sign-up in /chat becomes the admin, who runs rooms and roles from there",
    async () => {
      // A database of its own: the shared one already has an admin.
      const empty = await createTestApp();
      empty.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
      const server = `http://127.0.0.1:${empty.app.server!.port}`;
      const contexts = await Promise.all([newContext(server), newContext(server)]);
      const [founder, latecomer] = await Promise.all(contexts.map((c) => c.newPage()));
      try {
        // Both open the page while there is no admin: it says so and opens on the sign-up form.
        for (const page of [founder!, latecomer!]) {
          await page.goto(`${server}/chat`);
          await page.locator("#setup-notice", { hasText: "no admin yet" }).waitFor();
          await page.locator("#signup-form").waitFor();
        }
        await signUp(founder!, "founder");
        await founder!.locator("#current-role", { hasText: "admin" }).waitFor();
        expect(await founder!.locator("#rooms-empty").textContent()).toContain("create the first one");

        await founder!.locator("#new-room-name").fill("lobby");
        await founder!.locator("#new-room-description").fill("Say hi");
        await founder!.locator("#new-room-button").click();
        await founder!.locator('#connection-state[data-state="connected"]').waitFor();
        expect(await founder!.locator("#room-title").textContent()).toBe("lobby");

        // The latecomer's page still offers admin; the server refuses the claim and the page signs up a plain user.
        await signUp(latecomer!, "latecomer");
        await latecomer!.locator("#notice", { hasText: "Someone else became the admin first" }).waitFor();
        expect(await latecomer!.locator("#current-role").isHidden()).toBe(true);
        // A plain user may make private rooms only.
        expect(await latecomer!.locator("#new-room-visibility").isHidden()).toBe(true);
        expect(await latecomer!.locator("#new-room-public").isDisabled()).toBe(true);
        expect((await empty.request("GET", "/auth/setup")).json).toEqual({ admin_exists: true });

        await latecomer!.locator("#room-list [data-room-id]", { hasText: "lobby" }).click();
        await latecomer!.locator('#connection-state[data-state="connected"]').waitFor();
        expect(await latecomer!.locator("#delete-room-button").isHidden()).toBe(true);
        await send(founder!, "welcome aboard");
        await latecomer!.locator("#message-list .content", { hasText: "welcome aboard" }).waitFor();
        await send(latecomer!, "thanks");
        await founder!.locator("#message-list .content", { hasText: "thanks" }).waitFor();

        // The admin deletes the room: both pages leave it.
        founder!.once("dialog", (dialog) => void dialog.accept());
        await founder!.locator("#delete-room-button").click();
        await founder!.locator("#rooms-empty").waitFor();
        await latecomer!.locator("#notice", { hasText: "lobby was deleted" }).waitFor();
        await latecomer!.locator("#rooms-empty").waitFor(); // the list is fetched again after the notice

        // ...and makes the latecomer an admin, which revokes their access tokens (tokens carry the role) but not their
        // session: their page notices at once (its person socket is closed with 1008), refreshes, and goes on as an
        // admin, who can create public rooms.
        await founder!.locator("#users-toggle").click();
        const row = founder!.locator('#user-list [data-testid="user-latecomer"]');
        await row.locator("button", { hasText: "Make admin" }).click();
        await row.locator(".badge", { hasText: "admin" }).waitFor();
        await latecomer!.locator("#current-role", { hasText: "admin" }).waitFor();
        await latecomer!.locator("#new-room-visibility").waitFor();
        expect(await latecomer!.locator("#setup-notice").isHidden()).toBe(true);
      } finally {
        await Promise.all(contexts.map((c) => c.close()));
        await empty.app.stop(true);
        await empty.dispose();
      }
      expect(foreign).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  test(
    "two people chat; one goes offline, comes back and gets exactly what it missed",
    async () => {
      const admin = await t.user("host", { role: "admin" });
      const roomId = (
        await t.request("POST", "/rooms/", { token: admin.token, body: { name: "lobby", description: "Say hi" } })
      ).json.id;
      await t.request("POST", `/rooms/${roomId}/messages`, { token: admin.token, body: { content: "welcome" } });
      await t.user("bob");

      const aliceContext = await newContext();
      const bobContext = await newContext();
      const alice = await aliceContext.newPage();
      const bob = await bobContext.newPage();
      try {
        await alice.goto(`${base}/chat`);
        await signUp(alice, "alice");

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
    },
    BROWSER_TEST_MS,
  );

  test(
    "anyone makes a private room and adds people by username; DMs open from a username; a removed member leaves",
    async () => {
      await t.user("carol");
      await t.user("dave");
      const contexts = await Promise.all([newContext(), newContext()]);
      const [carol, dave] = await Promise.all(contexts.map((c) => c.newPage()));
      try {
        for (const [page, name] of [
          [carol!, "carol"],
          [dave!, "dave"],
        ] as const)
          await logIn(page, name);

        // carol, a plain user, makes a private room: she is its owner and only member.
        await carol!.locator("#new-room-name").fill("team");
        await carol!.locator("#new-room-button").click();
        await carol!.locator('#connection-state[data-state="connected"]').waitFor();
        await carol!.locator("#private-list [data-room-id]", { hasText: "team" }).waitFor();
        expect(await carol!.locator("#room-list [data-room-id]", { hasText: "team" }).count()).toBe(0);
        await carol!.locator("#members-button").click();
        await carol!.locator('#member-list [data-testid="member-carol"] .badge', { hasText: "owner" }).waitFor();

        // An unknown name is refused in words; dave is added and shows up in the list.
        await carol!.locator("#add-member-username").fill("nobody-here");
        await carol!.locator("#add-member-button").click();
        await carol!.locator("#members-error", { hasText: /not found/i }).waitFor();
        await carol!.locator("#add-member-username").fill("dave");
        await carol!.locator("#add-member-button").click();
        await carol!.locator('#member-list [data-testid="member-dave"]').waitFor();
        await carol!.locator("#members-button", { hasText: "Members (2)" }).waitFor();

        // dave sees it among his private rooms (after a reload here; the live list is its own test) and talks there.
        await dave!.reload();
        const team = dave!.locator("#private-list [data-room-id]", { hasText: "team" });
        await team.click();
        await dave!.locator('#connection-state[data-state="connected"]').waitFor();
        await send(dave!, "thanks for the invite");
        await carol!.locator("#message-list .content", { hasText: "thanks for the invite" }).waitFor();

        // carol opens a DM with dave by username: it is named after him, and listed apart.
        await carol!.locator("#dm-username").fill("dave");
        await carol!.locator("#dm-button").click();
        await carol!.locator("#direct-list [data-room-id]", { hasText: "dave" }).waitFor();
        await carol!.locator("#room-title", { hasText: "dave" }).waitFor();
        await carol!.locator('#connection-state[data-state="connected"]').waitFor();
        await send(carol!, "psst");
        expect(await carol!.locator("#private-list [data-room-id]", { hasText: "dave" }).count()).toBe(0);

        // carol removes dave from team: his page leaves the room and says so.
        await carol!.locator("#private-list [data-room-id]", { hasText: "team" }).click();
        await carol!.locator('#connection-state[data-state="connected"]').waitFor();
        await carol!.locator("#members-button").click();
        await carol!.locator('#member-list [data-testid="member-dave"] button', { hasText: "Remove" }).click();
        await dave!.locator("#notice", { hasText: "no longer a member of team" }).waitFor();
        expect(await dave!.locator("#room-title").textContent()).toBe("Pick a room");
        await carol!.locator("#members-button", { hasText: "Members (1)" }).waitFor();
      } finally {
        await Promise.all(contexts.map((c) => c.close()));
      }
      expect(foreign).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  test(
    "unread counts beside rooms, a divider where you left off, reading clears them in every tab",
    async () => {
      const erin = await t.user("erin");
      await t.user("frank");
      const [hall, team] = (await Promise.all(
        ["hall", "crew"].map(async (name) => {
          const id = (await t.request("POST", "/rooms/", { token: erin.token, body: { name, visibility: "private" } }))
            .json.id;
          await t.request("POST", `/rooms/${id}/members`, { token: erin.token, body: { username: "frank" } });
          return id as number;
        }),
      )) as [number, number];
      for (const content of ["one", "two", "three"]) {
        await t.request("POST", `/rooms/${team}/messages`, { token: erin.token, body: { content } });
      }
      const context = await newContext();
      const [tabA, tabB] = [await context.newPage(), await context.newPage()];
      try {
        await logIn(tabB, "frank");
        const badgeB = tabB.locator(`[data-room-id="${team}"] .unread`);
        await tabB.locator(`[data-room-id="${team}"] .unread[data-count="3"]`).waitFor();
        expect(await tabB.title()).toBe("(3) Chat");
        await openRoom(tabB, hall);

        // The same browser: the second tab is signed in already (the session is in localStorage).
        await tabA.goto(`${base}/chat`);
        await tabA.locator("#chat-view").waitFor();
        await tabA.bringToFront();
        await openRoom(tabA, team);
        // The divider sits before the first message frank has not read, and the room counts as read.
        expect(
          await tabA
            .locator("#message-list > li")
            .allTextContents()
            .then((lines) => lines.indexOf("New messages")),
        ).toBe(0);
        await tabA
          .locator('#message-list [data-testid="new-divider"] + li.message .content', { hasText: "one" })
          .waitFor();
        await tabA.locator(`[data-room-id="${team}"] .unread[data-count="0"]`).waitFor({ state: "attached" });
        // The other tab follows.
        await badgeB.and(tabB.locator('[data-count="0"]')).waitFor({ state: "attached" });
        expect(await tabB.title()).toBe("Chat");
        const listed = (
          await t.request("GET", "/rooms/", {
            token: (
              await t.request("POST", "/auth/login", { body: { username: "frank", password: "frank-password" } })
            ).json.access_token,
          })
        ).json;
        expect(listed.find((r: { id: number }) => r.id === team)).toMatchObject({ unread_count: 0 });
      } finally {
        await context.close();
      }
      expect(foreign).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  test(
    "drafts belong to their room and survive a reload; a message queued offline is sent once after a room switch",
    async () => {
      const gil = await t.user("gil");
      const [first, second] = await Promise.all(
        ["drafts-a", "drafts-b"].map(
          async (name) =>
            (await t.request("POST", "/rooms/", { token: gil.token, body: { name, visibility: "private" } })).json
              .id as number,
        ),
      );
      const context = await newContext();
      const page = await context.newPage();
      try {
        await logIn(page, "gil");
        await openRoom(page, first!);
        expect(await page.locator("#send-button").isDisabled()).toBe(true);
        await page.locator("#message-input").fill("half a thought");
        expect(await page.locator("#send-button").isDisabled()).toBe(false);
        await openRoom(page, second!);
        expect(await page.locator("#message-input").inputValue()).toBe("");
        await openRoom(page, first!);
        expect(await page.locator("#message-input").inputValue()).toBe("half a thought");
        await page.reload();
        await page.locator('#connection-state[data-state="connected"]').waitFor();
        expect(await page.locator("#message-input").inputValue()).toBe("half a thought");

        // Offline: the message waits ("Sending…"); the person moves on; back online it is stored, once.
        await context.setOffline(true);
        await page.locator('#connection-state[data-state="offline"]').waitFor();
        await page.locator("#message-input").fill("written on the train");
        await page.locator("#send-button").click();
        await page.locator('[data-testid="pending-message"]', { hasText: "Sending" }).waitFor();
        await page.locator(`#sidebar [data-room-id="${second}"]`).click();
        await context.setOffline(false);
        await page.locator('#connection-state[data-state="connected"]').waitFor();
        const stored = async () =>
          (await t.request("GET", `/rooms/${first}/messages`, { token: gil.token })).json.map(
            (m: { content: string }) => m.content,
          );
        await openRoom(page, first!);
        await page
          .locator("#message-list > li.message[data-id] .content", { hasText: "written on the train" })
          .waitFor();
        expect((await stored()).filter((c: string) => c === "written on the train")).toHaveLength(1);
      } finally {
        await context.close();
      }
      expect(foreign).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  test(
    "/chat stays signed in across access-token expiries and a reload: sockets renewed in place, tabs share one refresh",
    async () => {
      // Tokens of 6 s: the page refreshes 2 s before they end (80 % of a longer life) and renews its sockets in band.
      const short = await createTestApp({ accessTokenTtlSeconds: 6 });
      short.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
      const server = `http://127.0.0.1:${short.app.server!.port}`;
      const host = await short.user("keeper", { role: "admin" });
      const roomId = (await short.request("POST", "/rooms/", { token: host.token, body: { name: "long-day" } })).json
        .id;
      await short.user("sam");
      const say = async (content: string) => {
        const { access_token } = (
          await short.request("POST", "/auth/login", { body: { username: "keeper", password: host.password } })
        ).json;
        expect(
          (await short.request("POST", `/rooms/${roomId}/messages`, { token: access_token, body: { content } })).status,
        ).toBe(201);
      };
      const context = await newContext(server);
      const refreshes: number[] = [];
      context.on(
        "response",
        (response) => void (response.url() === `${server}/auth/refresh` && refreshes.push(response.status())),
      );
      /** Each socket a page opened, with the auth_ok frames it received. */
      const sockets: { url: string; renewals: number; socket: WebSocket }[] = [];
      const track = (page: Page) =>
        page.on("websocket", (socket) => {
          const entry = { url: socket.url(), renewals: 0, socket };
          sockets.push(entry);
          socket.on("framereceived", ({ payload }) => void (String(payload).includes('"auth_ok"') && entry.renewals++));
        });
      const renewed = (entry: { renewals: number; socket: WebSocket }, times: number) =>
        entry.renewals >= times
          ? Promise.resolve()
          : entry.socket.waitForEvent("framereceived", { predicate: () => entry.renewals >= times, timeout: 20_000 });
      const page = await context.newPage();
      track(page);
      try {
        await page.goto(`${server}/chat`);
        await page.locator("#show-login").click();
        await page.locator("#login-username").fill("sam");
        await page.locator("#login-password").fill("sam-password");
        await page.locator("#login-button").click();
        await openRoom(page, roomId);
        expect(sockets.map((s) => new URL(s.url).pathname)).toEqual(["/ws", `/ws/${roomId}`]);
        // The second renewal comes after the first token expired: both sockets stayed open through it.
        await Promise.all(sockets.map((entry) => renewed(entry, 2)));
        await say("still with you");
        await page.locator("#message-list .content", { hasText: "still with you" }).waitFor();
        expect(sockets).toHaveLength(2); // renewed in place: no reconnect
        expect(await page.locator("#connection-state").getAttribute("data-state")).toBe("connected");

        // A reload keeps the session (localStorage) and the room; its new sockets are renewed as well.
        await page.reload();
        await page.locator('#connection-state[data-state="connected"]').waitFor();
        expect(await page.locator("#room-title").textContent()).toBe("long-day");
        await say("after the reload");
        await page.locator("#message-list .content", { hasText: "after the reload" }).waitFor();

        // A second tab shares the session: one of them spends each refresh token, the other takes the new pair.
        const second = await context.newPage();
        track(second);
        await second.goto(`${server}/chat`);
        await second.locator("#chat-view").waitFor();
        await openRoom(second, roomId);
        await Promise.all(sockets.slice(2).map((entry) => renewed(entry, 1)));
        await say("both tabs hear this");
        for (const tab of [page, second])
          await tab.locator("#message-list .content", { hasText: "both tabs hear this" }).waitFor();
        expect(sockets).toHaveLength(6);
        // No tab was refused a refresh token another tab had spent (401 REFRESH_TOKEN_SPENT).
        expect(refreshes.length).toBeGreaterThan(0);
        expect(refreshes.filter((status) => status !== 200)).toEqual([]);

        // Logging out in one tab ends the session in the other.
        await second.locator("#logout-button").click();
        await page.locator("#auth-notice", { hasText: "session has ended" }).waitFor();
        expect(await page.evaluate(() => localStorage.getItem("chat.session"))).toBeNull();
      } finally {
        await context.close();
        await short.app.stop(true);
        await short.dispose();
      }
      expect(foreign).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  test(
    "search: results with marked snippets shown as text; a result opens its room at the message, history around it",
    async () => {
      const quill = await t.user("quill");
      const room = async (name: string) =>
        (await t.request("POST", "/rooms/", { token: quill.token, body: { name, visibility: "private" } })).json
          .id as number;
      const [archive, elsewhere] = [await room("archive"), await room("elsewhere")];
      // Three authors, so that 60 messages stay within each one's message rate limit.
      const authors = [quill, await t.user("quire"), await t.user("quince")];
      for (const { username } of authors.slice(1))
        await t.request("POST", `/rooms/${archive}/members`, { token: quill.token, body: { username } });
      const post = async (roomId: number, content: string, author = quill) =>
        expect(
          (await t.request("POST", `/rooms/${roomId}/messages`, { token: author.token, body: { content } })).status,
        ).toBe(201);
      const contents: string[] = [];
      for (let i = 0; i < 60; i++) contents.push(i === 5 ? "a needle in the haystack" : `filler ${i}`);
      for (const [i, content] of contents.entries()) await post(archive, content, authors[i % 3]);
      await post(elsewhere, "another needle over here");
      // Markup in a message is text in its snippet, as everywhere else.
      await post(elsewhere, '<img src=x onerror="alert(1)"> <b>needle</b> & "quotes"');

      const context = await newContext();
      const page = await context.newPage();
      try {
        await logIn(page, "quill");
        await page.locator("#search-input").fill("n");
        await page.locator("#search-button").click();
        await page.locator("#search-error", { hasText: "at least 2 letters" }).waitFor(); // the server's 422, said
        await page.locator("#search-input").fill("needle");
        await page.locator("#search-button").click();
        const results = page.locator('[data-testid="search-result"]');
        await page.locator("#search-title", { hasText: "3 found" }).waitFor();
        expect(await results.locator(".snippet").allTextContents()).toEqual([
          '<img src=x onerror="alert(1)"> <b>needle</b> & "quotes"',
          "another needle over here",
          "a needle in the haystack",
        ]);
        expect(await results.locator("mark").allTextContents()).toEqual(["needle", "needle", "needle"]);
        expect(await page.locator("#search-list img, #search-list b").count()).toBe(0);

        // The oldest match, long before the last 20 messages the room opens with.
        await results.filter({ hasText: "haystack" }).click();
        await page.locator('#connection-state[data-state="connected"]').waitFor();
        expect(await page.locator("#room-title").textContent()).toBe("archive");
        const found = page.locator("#message-list > li.message.found");
        await found.locator(".content", { hasText: "a needle in the haystack" }).waitFor();
        // Everything from before it to the newest, with no gap; the message is in view and has the focus.
        await page.locator("#message-list .content", { hasText: "filler 59" }).waitFor();
        expect(await shown(page)).toEqual(contents);
        expect(await found.evaluate((item) => document.activeElement === item)).toBe(true);
        const [box, view] = [await found.boundingBox(), await page.locator("#message-scroller").boundingBox()];
        expect(box!.y >= view!.y && box!.y + box!.height <= view!.y + view!.height).toBe(true);
        // Still live: a new message arrives below.
        await post(archive, "and one more");
        await page.locator("#message-list .content", { hasText: "and one more" }).waitFor();
      } finally {
        await context.close();
      }
      expect(foreign).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  test(
    "the room list is live: a room created, joined, left or deleted while the other person watches",
    async () => {
      const owner = await t.user("hana");
      await t.user("ivan");
      const context = await newContext();
      const page = await context.newPage();
      try {
        await logIn(page, "ivan");
        await page.locator("#sidebar[data-live=connected]").waitFor({ state: "attached" });
        // hana, in another browser of her own, makes a room and adds ivan; then talks there, then removes him.
        const den = (
          await t.request("POST", "/rooms/", { token: owner.token, body: { name: "den", visibility: "private" } })
        ).json.id;
        await t.request("POST", `/rooms/${den}/members`, { token: owner.token, body: { username: "ivan" } });
        const item = page.locator(`#private-list [data-room-id="${den}"]`);
        await item.waitFor();
        await t.request("POST", `/rooms/${den}/messages`, { token: owner.token, body: { content: "you there?" } });
        await item.locator('.unread[data-count="1"]').waitFor();
        expect(await page.title()).toBe("(1) Chat");
        await t.request(
          "DELETE",
          `/rooms/${den}/members/${(await t.request("GET", "/auth/me", { token: (await t.request("POST", "/auth/login", { body: { username: "ivan", password: "ivan-password" } })).json.access_token })).json.id}`,
          { token: owner.token },
        );
        await item.waitFor({ state: "detached" });
        expect(await page.title()).toBe("Chat");
        // A DM hana opens appears for ivan; a room deleted goes.
        const dm = (await t.request("POST", "/dms", { token: owner.token, body: { username: "ivan" } })).json.id;
        await page.locator(`#direct-list [data-room-id="${dm}"]`, { hasText: "hana" }).waitFor();
      } finally {
        await context.close();
      }
      expect(foreign).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  test(
    "two people: a public room created and deleted by one appears and goes in the other's list",
    async () => {
      const contexts = await Promise.all([newContext(), newContext()]);
      const [boss, viewer] = await Promise.all(contexts.map((c) => c.newPage()));
      try {
        // The admin of the shared database ("host", made by an earlier test, or here when run alone).
        const login = await t.request("POST", "/auth/login", { body: { username: "host", password: "host-password" } });
        if (login.status !== 200) await t.user("host", { role: "admin" });
        await logIn(boss!, "host");
        await t.user("joan");
        await logIn(viewer!, "joan");
        await viewer!.locator("#sidebar[data-live=connected]").waitFor({ state: "attached" });
        await boss!.locator("#new-room-name").fill("announcements");
        await boss!.locator("#new-room-button").click();
        await boss!.locator('#connection-state[data-state="connected"]').waitFor();
        const listed = viewer!.locator("#room-list [data-room-id]", { hasText: "announcements" });
        await listed.waitFor();
        boss!.once("dialog", (dialog) => void dialog.accept());
        await boss!.locator("#delete-room-button").click();
        await listed.waitFor({ state: "detached" });
      } finally {
        await Promise.all(contexts.map((c) => c.close()));
      }
      expect(foreign).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  test(
    "you notice news: announced with the author, marked while scrolled up, counted in the title; focus kept",
    async () => {
      const mia = await t.user("mia");
      const ned = await t.user("ned");
      const room = (
        await t.request("POST", "/rooms/", { token: mia.token, body: { name: "news", visibility: "private" } })
      ).json.id;
      await t.request("POST", `/rooms/${room}/members`, { token: mia.token, body: { username: "ned" } });
      for (let i = 1; i <= 30; i++)
        await t.request("POST", `/rooms/${room}/messages`, { token: ned.token, body: { content: `line ${i}\n.\n.` } });
      const context = await newContext();
      const page = await context.newPage();
      try {
        await logIn(page, "mia");
        // The join's own active_users is held back until the news is in, as the presence's round trip on PostgreSQL
        // can hold it: a message newer than the room had when it was opened is news all the same, and announced.
        const listsHeld = Promise.withResolvers<void>();
        await page.routeWebSocket(new RegExp(`/ws/${room}(\\?|$)`), (ws) => {
          const server = ws.connectToServer();
          server.onMessage((frame) => {
            if (String(frame).includes('"type":"active_users"')) void listsHeld.promise.then(() => ws.send(frame));
            else ws.send(frame);
          });
        });
        await openRoom(page, room);
        await page.locator("#message-list .content", { hasText: "line 30" }).waitFor();
        await t.request("POST", `/rooms/${room}/messages`, { token: ned.token, body: { content: "fresh news" } });
        await page.locator("#announcer", { hasText: "ned: fresh news" }).waitFor({ state: "attached" });
        listsHeld.resolve();
        await page.locator("#online-users li", { hasText: "mia" }).waitFor();

        // Scrolled up, a new message is not read: it is marked, and counted in the title.
        await page.locator("#message-scroller").evaluate((scroller) => (scroller.scrollTop = 0));
        await t.request("POST", `/rooms/${room}/messages`, {
          token: ned.token,
          body: { content: "while you scrolled" },
        });
        await page
          .locator('[data-testid="new-divider"] + li.message .content', { hasText: "while you scrolled" })
          .waitFor({ state: "attached" });
        expect(await page.title()).toBe("(1) Chat");

        // "Load earlier" keeps the keyboard focus (on the oldest message once there is nothing older).
        await page.locator("#load-earlier").focus();
        await page.keyboard.press("Enter");
        await page.locator("#message-list .content", { hasText: /^line 1(?!\d)/ }).waitFor({ state: "attached" });
        expect(await page.evaluate(() => document.activeElement?.closest("#message-scroller") !== null)).toBe(true);

        // Offline: said, and the online list greys out.
        await context.setOffline(true);
        await page.locator("#online-panel.stale").waitFor({ state: "attached" });
        await page.locator("#announcer", { hasText: "offline" }).waitFor({ state: "attached" });
        await context.setOffline(false);
        await page.locator("#online-panel:not(.stale)").waitFor({ state: "attached" });
      } finally {
        await context.close();
      }
      expect(foreign).toEqual([]);
    },
    BROWSER_TEST_MS,
  );

  for (const [size, viewport] of Object.entries(SIZES)) {
    test(
      `no serious or critical axe-core violations: login screen and a room with messages (${size})`,
      async () => {
        const kim = await t.user(`kim-${size}`);
        const other = await t.user(`lee-${size}`);
        const room = (
          await t.request("POST", "/rooms/", { token: kim.token, body: { name: `axe-${size}`, visibility: "private" } })
        ).json.id;
        await t.request("POST", `/rooms/${room}/members`, { token: kim.token, body: { username: other.username } });
        await t.request("POST", `/rooms/${room}/messages`, {
          token: other.token,
          body: { content: "See https://example.com/docs for more" },
        });
        await t.request("POST", `/rooms/${room}/messages`, { token: kim.token, body: { content: "thanks!" } });
        await t.request("POST", `/rooms/${room}/messages`, {
          token: other.token,
          body: { content: "long ".repeat(300) },
        });
        // axe-core goes in as an inline script, which the page's content security policy rightly refuses.
        const context = await browser!.newContext({ viewport, bypassCSP: true });
        await context.route("**/*", (route) =>
          route.request().url().startsWith(`${base}/`) ? route.continue() : route.abort(),
        );
        const page = await context.newPage();
        try {
          await page.goto(`${base}/chat`);
          await page.locator("#auth-view").waitFor();
          expect(await accessibilityProblems(page)).toEqual([]);
          // The tabs follow the tab pattern: the arrow keys move between them.
          await page.locator("#show-login").click();
          await page.keyboard.press("ArrowRight");
          await page.locator("#signup-form").waitFor();
          expect(await page.evaluate(() => document.activeElement?.id)).toBe("show-signup");
          await page.keyboard.press("ArrowLeft");
          await page.locator("#login-form").waitFor();
          await page.locator("#login-username").fill(kim.username);
          await page.locator("#login-password").fill("wrong password");
          await page.locator("#login-button").click();
          await page.locator("#auth-error:not(:empty)").waitFor();
          expect(await accessibilityProblems(page)).toEqual([]);

          await page.locator("#login-password").fill(`${kim.username}-password`);
          await page.locator("#login-button").click();
          await page.locator("#chat-view").waitFor();
          if (size === "phone") {
            // The drawer opened on entry takes the focus; Escape closes it and it leaves the tab order.
            await page.locator("#sidebar.open").waitFor();
            expect(
              await page.evaluate(() => document.getElementById("sidebar")!.contains(document.activeElement)),
            ).toBe(true);
            await page.keyboard.press("Escape");
            await page.locator("#sidebar:not(.open)").waitFor({ state: "attached" });
            expect(await page.evaluate(() => document.getElementById("sidebar")!.inert)).toBe(true);
            expect(await page.evaluate(() => document.activeElement?.id)).toBe("rooms-toggle");
            await page.locator("#rooms-toggle").click();
          }
          await openRoom(page, room);
          await page.locator("#message-list .content a[href='https://example.com/docs']").waitFor();
          expect(await page.locator("#message-list .content a").first().getAttribute("rel")).toContain("noopener");
          await page.locator("#message-list .show-more").waitFor();
          expect(await accessibilityProblems(page)).toEqual([]);

          // Search results (their marked words), and the message a result opens, highlighted.
          if (size === "phone") await page.locator("#rooms-toggle").click();
          await page.locator("#search-input").fill("thanks");
          await page.locator("#search-button").click();
          await page.locator('[data-testid="search-result"] mark').first().waitFor();
          expect(await accessibilityProblems(page)).toEqual([]);
          await page.locator('[data-testid="search-result"]').first().click();
          await page.locator("#message-list > li.message.found").waitFor();
          expect(await accessibilityProblems(page)).toEqual([]);
        } finally {
          await context.close();
        }
      },
      BROWSER_TEST_MS,
    );
  }

  test(
    "/docs renders every operation from our own assets, and Authorize carries the bearer token",
    async () => {
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
    },
    BROWSER_TEST_MS,
  );
});
