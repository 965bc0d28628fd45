// Checks the benchmark tools against each other: the baseline relay must lose and duplicate nothing.
import { afterAll, expect, test } from "bun:test";
import { runLoad } from "./load.ts";
import { startRelay } from "./relay.ts";

const relay = startRelay(0);
afterAll(() => relay.stop());

test("every client in a room gets every message of that room exactly once", async () => {
  const report = await runLoad({ url: `http://127.0.0.1:${relay.port}`, rooms: 2, clients: 3, inflight: 4, messages: 50 });
  expect(report).toMatchObject({ sent: 300, acked: 300, deliveries: 900, lost: 0, duplicated: 0, ok: true });
  expect(report.latencyMs.p50).toBeGreaterThan(0);
});

test("health answers 200", async () => {
  expect((await fetch(`http://127.0.0.1:${relay.port}/health`)).status).toBe(200);
});
