// The errors a Store throws in domain terms, and the test for "the database cannot be reached right now".

/** A unique constraint refused a write; `field` names which one. */
export class ConflictError extends Error {
  constructor(readonly field: "username" | "email" | "name") {
    super(`${field} already exists`);
    this.name = "ConflictError";
  }
}

/** A change refused because it would leave no active admin. */
export class LastAdminError extends Error {
  constructor() {
    super("the last active admin cannot stop being one");
    this.name = "LastAdminError";
  }
}

/** A foreign key refused a write: the room or user it points at is gone. */
export class MissingReferenceError extends Error {
  constructor() {
    super("referenced row does not exist");
    this.name = "MissingReferenceError";
  }
}

/** Errors that mean "the database cannot be reached right now" (connection lost, store closed), not a bug. */
export function isStoreUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  const cause = (error as { cause?: unknown })?.cause;
  if (typeof code === "string" && /^(CONNECTION_|CONNECT_TIMEOUT|ECONNREFUSED|ECONNRESET|57P0)/.test(code)) return true;
  if (/closed database|database (is|has) closed/i.test(String((error as Error)?.message ?? ""))) return true;
  return cause !== undefined && cause !== error && isStoreUnavailable(cause);
}
