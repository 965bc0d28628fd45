// The storage floor: bench/relay.ts, but every frame is committed before it is published and acked, with the
// chat server's group-commit policy, into one table with the chat server's two indexes on messages (a room's
// history newest first; the resend check on room, user and client_id). No auth, no checks, no change log, no
// notifications, no pool: what any server that stores each message before it broadcasts it pays on this machine.
//
// Usage: bun bench/floor.ts --store sqlite:<new file> | postgres://... [--port 0] [--indexes all|room|none]
//        (prints "listening <port>")
import { Database } from "bun:sqlite";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { MAX_BATCH, MAX_IN_FLIGHT } from "../src/messages/writer.ts";
import { startRelay, type RelayFrame, type RelayStore } from "./relay.ts";

export interface FloorRow {
  roomId: number;
  userId: number;
  content: string;
  clientId: string | null;
}
/** Stores a batch in one commit; resolves to each row's id (a resend answers its original's id). */
export type FloorStore = ((rows: readonly FloorRow[]) => number[] | Promise<number[]>) & { close(): Promise<void> };

/** The server's messages table, less its references (the floor has no users or rooms). */
const columns = (id: string, time: string) =>
  `floor_messages (id ${id}, room_id integer NOT NULL, user_id integer NOT NULL, content text NOT NULL,
   client_id text, created_at ${time} NOT NULL)`;
const ROOM_INDEX = "CREATE INDEX floor_room_id_id_user_id ON floor_messages (room_id, id, user_id)";
const RESEND_INDEX =
  "CREATE UNIQUE INDEX floor_room_id_user_id_client_id ON floor_messages (room_id, user_id, client_id)";
/**
 * Which of the server's indexes the table gets: both (the floor), or fewer, to measure what each costs. Without the
 * resend index a resend is stored again (nothing in the bench resends).
 */
export type FloorIndexes = "all" | "room" | "none";
/**
 * SQLite only. rowid: the server's table before issue 21 (AUTOINCREMENT rowid, the two indexes above). clustered: a
 * WITHOUT ROWID table keyed by (room_id, id), ids from a persisted high-water mark, an index on id, the resend index.
 * window: rowid with the history index only, the resend key in memory for the newest 500,000 messages instead of
 * the resend index. clustered-window: clustered, the resend key in memory likewise.
 */
export type FloorLayout = "rowid" | "clustered" | "window" | "clustered-window";
/** SQLite only: checkpoints on the committing connection (main) or on a thread with its own (worker). */
export type FloorCheckpoint = "main" | "worker";

/** `sqlite:<path>` (a fresh file, with the server's pragmas) or a `postgres://` URL (its table is replaced). */
export async function openFloorStore(
  url: string,
  indexes: FloorIndexes = "all",
  layout: FloorLayout = "rowid",
  checkpoint: FloorCheckpoint = "main",
): Promise<FloorStore> {
  const ddl = { all: [ROOM_INDEX, RESEND_INDEX], room: [ROOM_INDEX], none: [] }[indexes];
  const onConflict = indexes === "all" ? "ON CONFLICT (room_id, user_id, client_id) DO NOTHING" : "";
  return url.startsWith("sqlite:")
    ? sqliteFloor(url.slice("sqlite:".length), ddl, onConflict, layout, checkpoint)
    : await postgresFloor(url, ddl, onConflict);
}

function sqliteFloor(
  path: string,
  indexes: string[],
  onConflict: string,
  layout: FloorLayout,
  checkpoint: FloorCheckpoint,
): FloorStore {
  const db = new Database(path, { create: true, strict: true });
  // As src/store/sqlite/store.ts (openSqliteStore): WAL, synchronous NORMAL. Checkpoints either on this connection every 2,000 pages
  // (holding the file), or on a thread with a connection of its own, as the server's search indexer runs them.
  const pragmas =
    checkpoint === "main"
      ? ["journal_mode = WAL", "locking_mode = EXCLUSIVE", "synchronous = NORMAL", "wal_autocheckpoint = 2000"]
      : ["journal_mode = WAL", "busy_timeout = 5000", "synchronous = NORMAL", "wal_autocheckpoint = 0"];
  for (const pragma of pragmas) db.run(`PRAGMA ${pragma}`);
  db.run("DROP TABLE IF EXISTS floor_messages");
  db.run("DROP TABLE IF EXISTS floor_message_ids");
  let worker: Worker | undefined;
  if (checkpoint === "worker") {
    worker = new Worker(new URL("./floor-checkpointer.ts", import.meta.url));
    worker.postMessage({ path });
  }
  const close = async () => {
    if (worker) {
      const done = new Promise((resolve) => worker!.addEventListener("close", resolve));
      worker.postMessage({ stop: true });
      await done;
    }
    db.close(true);
  };
  const clustered = layout === "clustered" || layout === "clustered-window";
  const window = layout === "window" || layout === "clustered-window";
  if (!clustered) {
    db.run(`CREATE TABLE ${columns("INTEGER PRIMARY KEY AUTOINCREMENT", "integer")}`);
    for (const index of window ? [ROOM_INDEX] : indexes) db.run(index);
  } else {
    // The table is the history index (a room's messages are neighbours, by id); ids come from a persisted
    // high-water mark (never reused); an index on id alone (append-only) finds a message by its id.
    db.run(`CREATE TABLE floor_messages (room_id integer NOT NULL, id integer NOT NULL, user_id integer NOT NULL,
      content text NOT NULL, client_id text, created_at integer NOT NULL, PRIMARY KEY (room_id, id)) WITHOUT ROWID`);
    db.run("CREATE UNIQUE INDEX floor_id ON floor_messages (id)");
    db.run("CREATE TABLE floor_message_ids (last integer NOT NULL)");
    db.run("INSERT INTO floor_message_ids VALUES (0)");
    if (!window) db.run(RESEND_INDEX);
  }
  const resendIndex = !window && (clustered || onConflict !== "");
  const conflict = resendIndex ? "ON CONFLICT (room_id, user_id, client_id) DO NOTHING" : "";
  let last = 0;
  const saveLast = clustered ? db.query<unknown, [number]>("UPDATE floor_message_ids SET last = ?") : undefined;
  const insertClustered = db.query<unknown, [number, number, number, string, string | null, number]>(
    clustered
      ? `INSERT INTO floor_messages (id, room_id, user_id, content, client_id, created_at) VALUES (?, ?, ?, ?, ?, ?) ${conflict}`
      : "SELECT 1",
  );
  const insertRowid = db.query<{ id: number }, [number, number, string, string | null, number]>(
    `INSERT INTO floor_messages (room_id, user_id, content, client_id, created_at) VALUES (?, ?, ?, ?, ?) ${conflict} RETURNING id`,
  );
  const original = db.query<{ id: number }, [number, number, string | null]>(
    "SELECT id FROM floor_messages WHERE room_id = ? AND user_id = ? AND client_id = ?",
  );
  /** A new row's id, or undefined for a resend the resend index caught. */
  const insert = (r: FloorRow): number | undefined => {
    if (!clustered) return insertRowid.get(r.roomId, r.userId, r.content, r.clientId, Date.now())?.id;
    if (insertClustered.run(last + 1, r.roomId, r.userId, r.content, r.clientId, Date.now()).changes === 0)
      return undefined;
    return ++last;
  };
  // window: the resend key in memory for the newest RESEND_WINDOW messages instead of an index (exact inside it).
  const RESEND_WINDOW = 500_000;
  const recent = new Map<string, number>();
  const commit = db.transaction((rows: readonly FloorRow[]) => {
    const ids: number[] = [];
    const added = new Map<string, number>();
    for (const r of rows) {
      const key = window && r.clientId !== null ? `${r.roomId}:${r.userId}:${r.clientId}` : undefined;
      const known = key === undefined ? undefined : (recent.get(key) ?? added.get(key));
      if (known !== undefined) {
        ids.push(known);
        continue;
      }
      const id = insert(r) ?? original.get(r.roomId, r.userId, r.clientId)!.id;
      ids.push(id);
      if (key !== undefined) added.set(key, id);
    }
    saveLast?.run(last);
    return { ids, added };
  });
  const store = (rows: readonly FloorRow[]) => {
    const before = last;
    try {
      const { ids, added } = commit(rows);
      for (const [key, id] of added) recent.set(key, id);
      // A Map keeps insertion order: the oldest keys go first.
      for (const key of recent.keys()) {
        if (recent.size <= RESEND_WINDOW) break;
        recent.delete(key);
      }
      return ids;
    } catch (error) {
      last = before;
      throw error;
    }
  };
  return Object.assign(store, { close });
}

async function postgresFloor(url: string, indexes: string[], onConflict: string): Promise<FloorStore> {
  const sql = postgres(url, { max: 1, fetch_types: false, onnotice: () => {} });
  await sql.unsafe(
    `DROP TABLE IF EXISTS floor_messages;
     CREATE TABLE ${columns("bigserial PRIMARY KEY", "timestamptz")};
     ${indexes.join(";\n")}`,
  );
  const array = (values: readonly (number | string | null)[]) =>
    `{${values.map((v) => (v === null ? "NULL" : typeof v === "number" ? v : `"${v.replace(/["\\]/g, "\\$&")}"`)).join(",")}}`;
  // As the server: the new rows' ids come back with their keys; a resend's id is read in a second query.
  const store = async (rows: readonly FloorRow[]) => {
    const inserted = await sql<{ id: string; room_id: number; user_id: number; client_id: string | null }[]>`
      INSERT INTO floor_messages (room_id, user_id, content, client_id, created_at)
      SELECT room_id, user_id, content, client_id, now()
      FROM unnest(${array(rows.map((r) => r.roomId))}::int[], ${array(rows.map((r) => r.userId))}::int[],
                  ${array(rows.map((r) => r.content))}::text[], ${array(rows.map((r) => r.clientId))}::text[])
        WITH ORDINALITY AS t(room_id, user_id, content, client_id, ord)
      ORDER BY ord
      ${sql.unsafe(onConflict)} RETURNING id, room_id, user_id, client_id`;
    const key = (roomId: number, userId: number, clientId: string | null) => `${roomId}:${userId}:${clientId}`;
    const ids = new Map<string, number>();
    const anonymous: number[] = [];
    for (const r of inserted)
      r.client_id === null
        ? anonymous.push(Number(r.id))
        : ids.set(key(r.room_id, r.user_id, r.client_id), Number(r.id));
    const resent = rows.filter((r) => r.clientId !== null && !ids.has(key(r.roomId, r.userId, r.clientId)));
    if (resent.length > 0) {
      const old = await sql<{ id: string; room_id: number; user_id: number; client_id: string }[]>`
        SELECT id, room_id, user_id, client_id FROM floor_messages WHERE (room_id, user_id, client_id) IN (
          SELECT * FROM unnest(${array(resent.map((r) => r.roomId))}::int[], ${array(resent.map((r) => r.userId))}::int[],
                               ${array(resent.map((r) => r.clientId))}::text[]))`;
      for (const r of old) ids.set(key(r.room_id, r.user_id, r.client_id), Number(r.id));
    }
    let next = 0;
    return rows.map((r) => (r.clientId === null ? anonymous[next++]! : ids.get(key(r.roomId, r.userId, r.clientId))!));
  };
  return Object.assign(store, { close: () => sql.end({ timeout: 5 }) });
}

/**
 * The policy of src/messages/writer.ts without its error handling: the frames of one I/O poll go into one batch
 * of at most MAX_BATCH, at most MAX_IN_FLIGHT batches are sent before the first commits, ids go out in order.
 */
export function groupCommit(store: FloorStore): RelayStore {
  const queue: { frame: RelayFrame; deliver: (id: number) => void }[] = [];
  let inFlight = 0;
  let scheduled = false;
  let settled = Promise.resolve();
  const pump = () => {
    scheduled = false;
    while (queue.length > 0 && inFlight < MAX_IN_FLIGHT) {
      const batch = queue.splice(0, MAX_BATCH);
      inFlight++;
      const rows = batch.map(({ frame: { ws, content, clientId } }) => ({
        roomId: Number(ws.data.roomId),
        userId: ws.data.userId,
        content,
        clientId: clientId ?? null,
      }));
      const ids = Promise.resolve(store(rows));
      settled = settled
        .then(() => ids)
        .then((stored) => batch.forEach(({ deliver }, i) => deliver(stored[i]!)))
        .catch((error) => {
          // A tool, not a server: a failed commit ends it, and the runner reports the closed sockets.
          console.error(`floor: a commit failed: ${error}`);
          process.exit(1);
        })
        .finally(() => {
          inFlight--;
          if (queue.length > 0) schedule();
        });
    }
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(pump);
  };
  return (frame, deliver) => {
    queue.push({ frame, deliver });
    schedule();
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "0" },
      store: { type: "string" },
      indexes: { type: "string", default: "all" },
      layout: { type: "string", default: "rowid" },
      checkpoint: { type: "string", default: "main" },
    },
  });
  const port = Number(values.port);
  const indexes = values.indexes as FloorIndexes;
  const layout = values.layout as FloorLayout;
  const checkpoint = values.checkpoint as FloorCheckpoint;
  if (
    !values.store ||
    !Number.isInteger(port) ||
    port < 0 ||
    port > 65535 ||
    !["all", "room", "none"].includes(indexes) ||
    !["rowid", "clustered", "window", "clustered-window"].includes(layout) ||
    !["main", "worker"].includes(checkpoint)
  ) {
    console.error(
      "usage: bun bench/floor.ts --store sqlite:<file> | postgres://... [--port 0] [--indexes all|room|none]\n" +
        "         [--layout rowid|clustered|window|clustered-window] [--checkpoint main|worker]",
    );
    process.exit(2);
  }
  const relay = startRelay(port, groupCommit(await openFloorStore(values.store, indexes, layout, checkpoint)));
  console.log(`listening ${relay.port}`);
}
