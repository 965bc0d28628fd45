// Checks the benchmark tools against each other: the baseline relay and the storage floor must lose and duplicate
// nothing, and the floor must answer a resend with its original's id, as the chat server does.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { groupCommit, openFloorStore } from "./floor.ts";
import { runLoad } from "./load.ts";
import { startRelay } from "./relay.ts";
import { dialect, scratchDatabase } from "../test/support.ts";

const relay = startRelay(0);
// The floor on the database this run targets: a scratch PostgreSQL database, or a SQLite file.
const dir = mkdtempSync(join(tmpdir(), "floor-"));
const scratch = dialect === "postgres" ? await scratchDatabase("bench_floor_test") : undefined;
const store = await openFloorStore(scratch?.url ?? `sqlite:${join(dir, "floor.db")}`);
const floor = startRelay(0, groupCommit(store));

afterAll(async () => {
  relay.stop();
  floor.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  await scratch?.drop();
});

test("every client in a room gets every message of that room exactly once", async () => {
  const report = await runLoad({
    url: `http://127.0.0.1:${relay.port}`,
    rooms: 2,
    clients: 3,
    inflight: 4,
    messages: 50,
  });
  expect(report).toMatchObject({ sent: 300, acked: 300, deliveries: 900, lost: 0, duplicated: 0, ok: true });
  expect(report.latencyMs.p50).toBeGreaterThan(0);
});

test("health answers 200", async () => {
  expect((await fetch(`http://127.0.0.1:${relay.port}/health`)).status).toBe(200);
});

test("the storage floor delivers every message once and stores every one", async () => {
  const report = await runLoad({
    url: `http://127.0.0.1:${floor.port}`,
    rooms: 3,
    clients: 4,
    inflight: 4,
    messages: 40,
  });
  expect(report).toMatchObject({ sent: 480, acked: 480, deliveries: 1920, lost: 0, duplicated: 0, ok: true });
  // Every acked message took an id in the table: the next one is past all of them.
  const [next] = await store([{ roomId: 1, userId: 1, content: "after", clientId: null }]);
  expect(next).toBeGreaterThan(480);
});

test("the storage floor answers a resend with the original's id, and stores it once", async () => {
  const row = (clientId: string | null, userId = 7) => ({ roomId: 2, userId, content: `m ${clientId}`, clientId });
  const first = await store([row("a"), row(null), row("b"), row("a"), row("a", 8)]);
  expect(first[3]).toBe(first[0]!); // the same key twice in one batch
  expect(new Set([first[0], first[1], first[2], first[4]]).size).toBe(4);
  const fresh = [first[0]!, first[1]!, first[2]!, first[4]!];
  expect([...fresh].sort((x, y) => x - y)).toEqual(fresh); // ids follow the batch's order
  const again = await store([row("b"), row("c"), row("a")]);
  expect(again[0]).toBe(first[2]!);
  expect(again[2]).toBe(first[0]!);
  expect(again[1]).toBeGreaterThan(Math.max(...first));
});

test("the storage floor refuses rooms that are not integers, as the server's ids are", async () => {
  expect((await fetch(`http://127.0.0.1:${floor.port}/ws/general`)).status).toBe(404);
});
