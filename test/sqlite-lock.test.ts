// SQLite serves one server per file: a second opener is refused while the first is open, and welcome after.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore, SqliteInUseError } from "../src/store/sqlite/store.ts";

const dir = mkdtempSync(join(tmpdir(), "chat-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a file held by an open store is refused to a second one, and free again once it closes", async () => {
  const path = join(dir, "chat.db");
  const first = openSqliteStore(path);
  await first.createRoom({ name: "kept", description: null, createdAt: new Date() });
  expect(() => openSqliteStore(path)).toThrow(SqliteInUseError);
  await first.close();
  const second = openSqliteStore(path);
  expect((await second.listRooms()).map((r) => r.name)).toEqual(["kept"]);
  await second.close();
});
