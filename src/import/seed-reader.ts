// Reads the FastAPI seed's database (SQLite or PostgreSQL) as plain rows in id order, from one consistent snapshot.
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { connectPostgres } from "../store/postgres/connect.ts";
import { parseDatabaseUrl } from "../config.ts";

// Columns are read loosely typed: the seed never validated much, and the importer decides what to do with each row.
export interface SeedUser {
  id: number;
  username: string | null;
  email: string | null;
  hashedPassword: string | null;
  role: string | null;
  /** Epoch milliseconds, or null when missing or unreadable. */
  createdAt: number | null;
}

export interface SeedRoom {
  id: number;
  name: string | null;
  description: string | null;
  createdAt: number | null;
}

export interface SeedMessage {
  id: number;
  content: string | null;
  timestamp: number | null;
  userId: number | null;
  roomId: number | null;
}

export interface SeedData {
  users: SeedUser[];
  rooms: SeedRoom[];
  messages: SeedMessage[];
}

/** `url` is a DATABASE_URL as the seed took it: sqlite:///./chat_app.db, sqlite:/path, postgresql://... */
export async function readSeed(url: string): Promise<SeedData> {
  const target = parseDatabaseUrl(url);
  try {
    return target.kind === "postgres" ? await readPostgres(target.url) : readSqlite(target.path);
  } catch (error) {
    throw new Error(`cannot read the seed database: ${(error as Error).message}`);
  }
}

function readSqlite(path: string): SeedData {
  if (path === ":memory:") throw new Error("an in-memory database has nothing to import");
  // A readonly open would otherwise report a missing file as "unable to open database file".
  if (!existsSync(path)) throw new Error(`no such file: ${path}`);
  const db = new Database(path, { readonly: true });
  try {
    const read = db.transaction(() => ({
      users: db
        .query(
          `SELECT id, username, email, hashed_password AS hashedPassword, role, created_at AS createdAt FROM users ORDER BY id`,
        )
        .all() as Record<string, unknown>[],
      rooms: db
        .query(`SELECT id, name, description, created_at AS createdAt FROM chat_rooms ORDER BY id`)
        .all() as Record<string, unknown>[],
      messages: db
        .query(`SELECT id, content, "timestamp", user_id AS userId, room_id AS roomId FROM messages ORDER BY id`)
        .all() as Record<string, unknown>[],
    }));
    const rows = read();
    return {
      users: rows.users.map((r) => ({ ...r, createdAt: parseSeedTimestamp(r.createdAt) }) as SeedUser),
      rooms: rows.rooms.map((r) => ({ ...r, createdAt: parseSeedTimestamp(r.createdAt) }) as SeedRoom),
      messages: rows.messages.map((r) => ({ ...r, timestamp: parseSeedTimestamp(r.timestamp) }) as SeedMessage),
    };
  } finally {
    db.close();
  }
}

async function readPostgres(url: string): Promise<SeedData> {
  const sql = connectPostgres(url, { max: 1, connect_timeout: 10 });
  // `timestamp without time zone` holds UTC here; its epoch is read as such, so the reader's zone never matters.
  const epochMs = (column: string) => sql.unsafe(`round(extract(epoch FROM ${column}) * 1000)::float8`);
  try {
    const [users, rooms, messages] = await sql.begin("isolation level repeatable read read only", (tx) => [
      tx<SeedUser[]>`SELECT id, username, email, hashed_password AS "hashedPassword", role::text AS role,
        ${epochMs("created_at")} AS "createdAt" FROM users ORDER BY id`,
      tx<SeedRoom[]>`SELECT id, name, description, ${epochMs("created_at")} AS "createdAt" FROM chat_rooms ORDER BY id`,
      tx<SeedMessage[]>`SELECT id, content, ${epochMs(`"timestamp"`)} AS "timestamp", user_id AS "userId",
        room_id AS "roomId" FROM messages ORDER BY id`,
    ]);
    return { users: [...users], rooms: [...rooms], messages: [...messages] };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const SQLITE_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** SQLAlchemy's SQLite text ("2025-01-31 10:30:00.000000"), zone-less meaning UTC; null if it is not one. */
export function parseSeedTimestamp(value: unknown): number | null {
  if (typeof value !== "string") return null;
  const m = SQLITE_TIMESTAMP.exec(value.trim());
  if (!m) return null;
  const [, year, month, day, hour, minute, second = "0", fraction = "", zone] = m;
  let ms = Date.UTC(+year!, +month! - 1, +day!, +hour!, +minute!, +second, +fraction.slice(0, 3).padEnd(3, "0"));
  if (zone && zone !== "Z") {
    const [, sign, hh, mm] = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
    ms -= (sign === "-" ? -1 : 1) * (+hh! * 60 + +mm!) * 60_000;
  }
  return Number.isNaN(ms) ? null : ms;
}
