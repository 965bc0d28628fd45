// The compiled executable carries everything: built by scripts/build.ts, copied alone into an empty folder, it
// serves Swagger UI and its assets, the chat client, /ready and /metrics, and is ready in under a second.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dialect, openTestStore } from "./support.ts";
import { TestSocket } from "./ws-client.ts";

const root = join(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "chat-executable-"));
let child: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;
afterAll(() => {
  child?.kill();
  rmSync(work, { recursive: true, force: true });
});

describe("compiled executable", () => {
  test("built alone into an empty folder, it serves /docs, its assets, /chat, /ready and /metrics", async () => {
    const build = Bun.spawnSync(["bun", "scripts/build.ts", join(work, "build", "chat-server")], {
      cwd: root,
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(build.exitCode, build.stderr.toString()).toBe(0);
    // One file: the source map is inside it.
    expect(readdirSync(join(work, "build"))).toEqual(["chat-server"]);
    const folder = join(work, "run");
    mkdirSync(folder);
    copyFileSync(join(work, "build", "chat-server"), join(folder, "chat-server"));

    const startedAt = performance.now();
    child = Bun.spawn(["./chat-server"], {
      cwd: folder,
      env: { PATH: "/usr/bin:/bin", HOME: folder, HOST: "127.0.0.1", PORT: "0" },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    let output = "";
    const decoder = new TextDecoder();
    let port = 0;
    for await (const chunk of child.stdout) {
      output += decoder.decode(chunk);
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(output);
      if (match) {
        port = Number(match[1]);
        break;
      }
    }
    expect(port, output).toBeGreaterThan(0);
    const base = `http://127.0.0.1:${port}`;
    let ready = await fetch(`${base}/ready`);
    while (ready.status !== 200 && performance.now() - startedAt < 5000) ready = await fetch(`${base}/ready`);
    const startupMs = performance.now() - startedAt;
    expect(await ready.json()).toEqual({ status: "ready" });
    console.log(`executable ready in ${startupMs.toFixed(0)} ms`);
    expect(startupMs).toBeLessThan(1000);

    const docs = await fetch(`${base}/docs`);
    const html = await docs.text();
    expect(docs.status).toBe(200);
    const assets = [...html.matchAll(/(?:src|href)="(\/docs\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toContain("/docs/assets/swagger-ui-bundle.js");
    expect(assets).toContain("/docs/assets/swagger-ui.css");
    for (const path of assets) {
      const asset = await fetch(base + path);
      expect(asset.status).toBe(200);
      await asset.arrayBuffer();
    }
    expect((await (await fetch(`${base}/docs/assets/swagger-ui-bundle.js`)).text()).length).toBeGreaterThan(500_000);
    expect((await (await fetch(`${base}/docs/json`)).json()).openapi).toStartWith("3.");

    const chat = await (await fetch(`${base}/chat`)).text();
    expect(chat).toContain('id="message-list"');
    const script = /<script[^>]+src="([^"]+)"/.exec(chat)![1]!;
    expect((await fetch(base + script)).status).toBe(200);

    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('http_requests_total{method="GET",route="/ready",status="200"}');

    // Nothing but the program and the SQLite database it created.
    expect(
      readdirSync(folder)
        .filter((f) => !f.startsWith("chat.db"))
        .sort(),
    ).toEqual(["chat-server"]);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
  }, 60_000); // a compile takes seconds, more on a busy machine

  test(`the seed's walk-through against the executable, on ${dialect}`, async () => {
    // Reuses the executable built by the first test; on PostgreSQL, a scratch database of its own.
    const store = dialect === "postgres" ? await openTestStore() : undefined;
    await store?.close();
    const folder = join(work, "walk");
    mkdirSync(folder);
    copyFileSync(join(work, "build", "chat-server"), join(folder, "chat-server"));
    const server = Bun.spawn(["./chat-server"], {
      cwd: folder,
      env: {
        PATH: "/usr/bin:/bin",
        HOME: folder,
        HOST: "127.0.0.1",
        PORT: "0",
        BCRYPT_COST: "4",
        ...(store?.scratchUrl ? { DATABASE_URL: store.scratchUrl } : {}),
      },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      let output = "";
      const decoder = new TextDecoder();
      let port = 0;
      const reader = server.stdout.getReader();
      while (!port) {
        const { value, done } = await reader.read();
        if (done) break;
        output += decoder.decode(value);
        port = Number(/listening on http:\/\/[^:]+:(\d+)/.exec(output)?.[1] ?? 0);
      }
      // Keep reading the request log so the pipe never fills.
      void (async () => {
        while (!(await reader.read()).done);
      })();
      expect(port, output).toBeGreaterThan(0);
      const base = `http://127.0.0.1:${port}`;
      const json = (path: string, body: unknown, token?: string) =>
        fetch(base + path, {
          method: "POST",
          headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify(body),
        });
      // The seed README, step by step: admin signup, login, a room, a socket, a message.
      const signup = await json("/auth/signup", {
        username: "admin",
        email: "admin@example.com",
        password: "adminpass123",
        role: "admin",
      });
      expect(signup.status).toBe(201);
      const { access_token: token } = await (
        await json("/auth/login", { username: "admin", password: "adminpass123" })
      ).json();
      const room = await json("/rooms/", { name: "General", description: "General discussion room" }, token);
      expect(room.status).toBe(201);
      const { id } = await room.json();
      const socket = new TestSocket(`ws://127.0.0.1:${port}/ws/${id}?token=${token}`);
      await socket.nextOfType("user_joined");
      socket.send({ content: "Hello, everyone!" });
      expect(await socket.nextOfType("message")).toMatchObject({
        content: "Hello, everyone!",
        username: "admin",
        room_id: id,
      });
      await socket.close();
      const history = await fetch(`${base}/rooms/${id}/messages?skip=0&limit=50`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect((await history.json())[0]).toMatchObject({ content: "Hello, everyone!", user: { username: "admin" } });
    } finally {
      server.kill("SIGTERM");
      await server.exited;
      await store?.dispose();
    }
  }, 30_000);
});
