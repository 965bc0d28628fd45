// The server as a process: `bun src/main.ts` starts, answers, refuses a taken port, rejects bad config.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { account, call, startServer } from "./process.ts";
import { TestSocket } from "./ws-client.ts";

const main = join(import.meta.dir, "..", "src", "main.ts");
const work = mkdtempSync(join(tmpdir(), "chat-server-"));
const children: Bun.Subprocess[] = [];
afterAll(() => {
  for (const child of children) child.kill();
  rmSync(work, { recursive: true, force: true });
});

function start(env: Record<string, string>, args: string[] = []) {
  const child = Bun.spawn(["bun", main, ...args], {
    cwd: work,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? work, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  children.push(child);
  return child;
}

describe("server process", () => {
  test("starts on the embedded SQLite default with no set-up, and a second server on the same port fails clearly", async () => {
    const first = await startServer({ SECRET_KEY: "" }, work);
    const port = first.port;
    expect((await (await fetch(`http://127.0.0.1:${port}/health`)).json()).status).toBe("healthy");
    expect(first.output()).toContain("SECRET_KEY is not set");

    const second = start({ PORT: String(port), HOST: "127.0.0.1", DATABASE_URL: "sqlite:other.db" });
    expect(await second.exited).toBe(1);
    expect(await new Response(second.stderr).text()).toContain(`port ${port}`);
    // The first server still answers every request.
    for (let i = 0; i < 5; i++) expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    expect(await first.stop("SIGTERM")).toBe(0);
  });

  test("on 0.0.0.0 the start-up log gives links to open, and says how to get an admin until there is one", async () => {
    const env = { HOST: "0.0.0.0", DATABASE_URL: "sqlite:first-run.db" };
    const first = await startServer(env, work);
    expect(first.output()).toContain(`http://localhost:${first.port}/chat`);
    expect(first.output()).toContain(`http://localhost:${first.port}/docs`);
    expect(first.output()).toContain("no admin yet");
    expect(first.output()).toContain("create-admin --username");
    await account(first.url, "founder", "admin");
    expect(await first.stop()).toBe(0);
    const again = await startServer(env, work);
    expect(again.output()).not.toContain("no admin yet");
    expect(await again.stop()).toBe(0);
  });

  test("development without SECRET_KEY keeps its key in an owner-only file beside the database: a restart signs nobody out", async () => {
    const env = { SECRET_KEY: "", DATABASE_URL: "sqlite:data/dev.db" };
    const first = await startServer(env, work);
    const keyFile = join(work, "data", "dev.db.secret");
    expect(first.output()).toContain(`made a development key in ${keyFile}`);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const admin = await account(first.url, "keeper", "admin");
    expect(await first.stop()).toBe(0);

    const second = await startServer(env, work);
    expect(second.output()).toContain(`using the development key in ${keyFile}`);
    const me = await call(second.url, "GET", "/auth/me", undefined, admin.token);
    expect(me.status).toBe(200);
    expect(me.json.username).toBe("keeper");
    expect(await second.stop()).toBe(0);

    // Production never falls back to the file.
    const production = start({ ...env, NODE_ENV: "production", PORT: "0", HOST: "127.0.0.1" });
    expect(await production.exited).toBe(2);
    expect(await new Response(production.stderr).text()).toContain("SECRET_KEY: required in production");
  });

  test("a start that fails (port in use) leaves no new database or key file behind", async () => {
    const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const folder = join(work, "failed-start");
      mkdirSync(folder);
      const child = Bun.spawn(["bun", main], {
        cwd: folder,
        env: { PATH: process.env.PATH!, HOME: work, HOST: "127.0.0.1", PORT: String(holder.port) },
        stdout: "pipe",
        stderr: "pipe",
      });
      children.push(child);
      expect(await child.exited).toBe(1);
      expect(await new Response(child.stderr).text()).toContain(`port ${holder.port}`);
      expect(readdirSync(folder)).toEqual([]);
    } finally {
      holder.stop(true);
    }
  });

  test("a second server on the same SQLite file is refused: SQLite serves one instance", async () => {
    const first = await startServer({ DATABASE_URL: "sqlite:shared.db" }, work);
    const second = start({ PORT: "0", HOST: "127.0.0.1", DATABASE_URL: "sqlite:shared.db" });
    expect(await second.exited).toBe(1);
    expect(await new Response(second.stderr).text()).toContain("in use by another chat server");
    const migrate = start({ DATABASE_URL: "sqlite:shared.db" }, ["migrate"]);
    expect(await migrate.exited).toBe(1);
    expect(await first.stop()).toBe(0);
    // Once the first has stopped, the file is free again.
    const after = await startServer({ DATABASE_URL: "sqlite:shared.db" }, work);
    expect((await fetch(`${after.url}/health`)).status).toBe(200);
    await after.stop();
  });

  test("SIGTERM mid-chat: sockets get 1001, and every acknowledged message is stored", async () => {
    const env = {
      DATABASE_URL: "sqlite:sigterm.db",
      SECRET_KEY: "sigterm-test-secret-key-0123456789abcdef",
      // One user keeps 20 messages a millisecond in flight, far past a person's rate.
      RATE_MESSAGES_PER_SECOND: "1000000",
      RATE_MESSAGE_BURST: "1000000",
    };
    const server = await startServer(env, work);
    const admin = await account(server.url, "admin", "admin");
    const roomId = (await call(server.url, "POST", "/rooms/", { name: "shutdown" }, admin.token)).json.id;
    const socket = new TestSocket(`ws://127.0.0.1:${server.port}/ws/${roomId}?token=${admin.token}`);
    await socket.opened;
    await socket.nextOfType("user_joined");
    const acked: number[] = [];
    socket.ws.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data));
      if (frame.type === "ack") acked.push(frame.id);
    });
    // Keep messages in flight while the signal lands.
    let n = 0;
    const pump = setInterval(() => {
      for (let i = 0; i < 20 && socket.ws.readyState === WebSocket.OPEN; i++)
        socket.send({ content: `m${n}`, client_id: `c${n++}` });
    }, 1);
    while (acked.length < 50) await Bun.sleep(5);
    server.child.kill("SIGTERM");
    const closed = await socket.closed;
    clearInterval(pump);
    expect(closed.code).toBe(1001);
    expect(await server.child.exited).toBe(0);

    const again = await startServer(env, work);
    const stored = new Set<number>();
    for (let before: number | undefined; ; ) {
      const page = await call(
        again.url,
        "GET",
        `/rooms/${roomId}/messages?limit=100${before ? `&before=${before}` : ""}`,
        undefined,
        admin.token,
      );
      for (const m of page.json) stored.add(m.id);
      if (page.json.length < 100) break;
      before = page.json.at(-1).id;
    }
    await again.stop();
    const missing = acked.filter((id) => !stored.has(id));
    console.log(
      JSON.stringify({
        test: "SIGTERM mid-chat",
        sent: n,
        acked: acked.length,
        stored: stored.size,
        missing: missing.length,
      }),
    );
    expect(missing).toEqual([]);
  });

  test("bad configuration stops the server with one message naming every bad variable", async () => {
    const child = start({ PORT: "x", BCRYPT_COST: "99" });
    expect(await child.exited).toBe(2);
    const stderr = await new Response(child.stderr).text();
    expect(stderr).toContain("PORT");
    expect(stderr).toContain("BCRYPT_COST");
  });

  test("migrate, --help and --version", async () => {
    const migrate = start({ DATABASE_URL: "sqlite:migrated.db" }, ["migrate"]);
    expect(await migrate.exited).toBe(0);
    expect(await Bun.file(join(work, "migrated.db")).exists()).toBe(true);
    const help = start({}, ["--help"]);
    expect(await help.exited).toBe(0);
    const text = await new Response(help.stdout).text();
    // It stands alone (the executable carries no README): every command, every variable the config reads, examples.
    for (const command of ["serve", "migrate", "create-admin", "import-seed", "healthcheck"])
      expect(text).toContain(`  ${command}`);
    const config = await Bun.file(join(import.meta.dir, "..", "src", "config.ts")).text();
    const variables = [...config.matchAll(/(?:read|integer|boolean)\("([A-Z_]+)"/g)].map((m) => m[1]!);
    expect(variables.length).toBeGreaterThanOrEqual(11);
    for (const name of [...variables, "ADMIN_PASSWORD"]) expect(text).toMatch(new RegExp(`^  ${name} +\\S`, "m"));
    expect(text).toContain("Examples:");
    expect(text).not.toContain("README");
    const unknown = start({}, ["frobnicate"]);
    expect(await unknown.exited).toBe(2);
  });
});
