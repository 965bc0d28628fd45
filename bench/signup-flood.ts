// Login latency alone and while 40 signups arrive at once (each a bcrypt hash), against a server started here on a
// temp SQLite file at BCRYPT_COST 10. `bun bench/signup-flood.ts [path/to/main.ts]` (default: this checkout's server,
// through serve.ts).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, NO_PERSON_LIMITS, spawn, stop, waitFor200 } from "./procs.ts";

const main = process.argv[2] ?? join(import.meta.dir, "serve.ts");
const FLOOD = 40;
const ROUNDS = 5;
const dir = mkdtempSync(join(tmpdir(), "signup-flood-"));
const port = await freePort();
const proc = spawn([process.execPath, main, "serve"], {
  cwd: dir,
  log: join(dir, "server"), // an undrained stdout pipe would stall the server
  env: {
    ...NO_PERSON_LIMITS, // every signup comes from 127.0.0.1: let them all reach the hash
    HOST: "127.0.0.1",
    PORT: String(port),
    DATABASE_URL: `sqlite:${join(dir, "chat.db")}`,
    SECRET_KEY: "signup-flood-secret-key-0123456789abcdef",
    BCRYPT_COST: "10",
  },
});
const base = `http://127.0.0.1:${port}`;
try {
  await waitFor200(`${base}/health`, proc, performance.now(), 30_000, 20);
  const post = (path: string, body: unknown) =>
    fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  await post("/auth/signup", { username: "probe", email: "probe@bench.test", password: "probe-password" });
  const login = async () => {
    const started = performance.now();
    const response = await post("/auth/login", { username: "probe", password: "probe-password" });
    await response.text();
    if (!response.ok) throw new Error(`login: ${response.status}`);
    return performance.now() - started;
  };
  const median = (xs: number[]) => +[...xs].sort((a, b) => a - b)[xs.length >> 1]!.toFixed(1);
  const alone: number[] = [];
  for (let i = 0; i < 7; i++) alone.push(await login());
  const during: number[] = [];
  const statuses: Record<number, number> = {};
  for (let round = 0; round < ROUNDS; round++) {
    const flood = Array.from({ length: FLOOD }, (_, i) =>
      post("/auth/signup", {
        username: `flood${round}x${i}`,
        email: `flood${round}x${i}@bench.test`,
        password: "flood-password",
      }),
    );
    await Bun.sleep(20); // the flood's requests are read and waiting for their hashes
    during.push(await login());
    for (const response of await Promise.all(flood)) statuses[response.status] = (statuses[response.status] ?? 0) + 1;
  }
  console.log(
    JSON.stringify({
      loginAloneMs: median(alone),
      loginDuringFloodMs: median(during),
      during: during.map(Math.round),
      signupStatuses: statuses,
    }),
  );
} finally {
  await stop(proc);
  rmSync(dir, { recursive: true, force: true });
}
