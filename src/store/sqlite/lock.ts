// One server per SQLite file: the lock that refuses a second one.
import { Database } from "bun:sqlite";

export class SqliteInUseError extends Error {
  constructor(readonly path: string) {
    super(`${path} is in use by another chat server; SQLite serves one instance (use PostgreSQL for several)`);
    this.name = "SqliteInUseError";
  }
}

/**
 * One server per SQLite file: the first holds an exclusive lock on `<path>.lock` (an empty SQLite database of its
 * own) until it closes, so a second one (or a `migrate` while it runs) is refused at once instead of splitting the
 * chat in two. Not on the database itself, which the store's search indexer opens too.
 */
export function holdLock(path: string): Database {
  const lock = new Database(`${path}.lock`, { create: true });
  try {
    lock.run("PRAGMA locking_mode = EXCLUSIVE");
    lock.run("BEGIN EXCLUSIVE");
    lock.run("COMMIT");
    return lock;
  } catch (error) {
    lock.close();
    if (/locked|busy/i.test(String(error))) throw new SqliteInUseError(path);
    throw error;
  }
}
