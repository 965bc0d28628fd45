// Development's signing key, kept in a file: without SECRET_KEY a random key per start signed everyone out on
// every restart (every edit under `bun run dev`). Production never comes here: it requires SECRET_KEY.
import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { MIN_SECRET_BYTES, type DatabaseTarget } from "./config.ts";

/** Where a PostgreSQL database's development key lives: the working folder, as there is no database file. */
export const POSTGRES_SECRET_FILE = ".chat-secret";

/**
 * Beside the SQLite file (`chat.db` -> `chat.db.secret`), so a database and the tokens signed for it go together;
 * `.chat-secret` in the working folder for PostgreSQL; none for an in-memory database, which forgets its users
 * at every restart anyway.
 */
export function developmentSecretPath(database: DatabaseTarget, cwd = process.cwd()): string | undefined {
  if (database.kind === "postgres") return join(cwd, POSTGRES_SECRET_FILE);
  return database.path === ":memory:" ? undefined : `${database.path}.secret`;
}

export interface KeptSecret {
  key: string;
  path: string;
  /** Made by this call (so a start that fails can take it away again). */
  created: boolean;
}

/** The key in `path`, or a new random one written there readable by its owner only. */
export function keepDevelopmentSecret(path: string): KeptSecret {
  mkdirSync(dirname(path), { recursive: true });
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
  // Written whole under another name, then linked into place: link() fails if the file exists, so two servers
  // starting together agree on one key, and neither ever reads a half-written file.
  const draft = `${path}.${process.pid}.tmp`;
  writeFileSync(draft, `${key}\n`, { mode: 0o600 });
  try {
    linkSync(draft, path);
    return { key, path, created: true };
  } catch (error) {
    if ((error as { code?: string }).code !== "EEXIST") throw error;
  } finally {
    rmSync(draft, { force: true });
  }
  const kept = readFileSync(path, "utf8").trim();
  if (Buffer.byteLength(kept) < MIN_SECRET_BYTES) {
    throw new Error(`${path} holds fewer than ${MIN_SECRET_BYTES} bytes; delete it and a new key is made`);
  }
  if ((statSync(path).mode & 0o077) !== 0) {
    throw new Error(`${path} is readable by other users; run \`chmod 600 ${path}\` (or delete it for a new key)`);
  }
  return { key: kept, path, created: false };
}
