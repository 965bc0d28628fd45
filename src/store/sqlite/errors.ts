// SQLite's errors in the Store's terms: which constraint refused a write.
import { ConflictError, MissingReferenceError } from "../store.ts";

export function mapConstraint(error: unknown): unknown {
  const message = error instanceof Error ? error.message : "";
  if (message.includes("FOREIGN KEY constraint failed")) return new MissingReferenceError();
  // "UNIQUE constraint failed: users.email" for a column, "...: index 'users_email_lower_key'" for an expression.
  const unique = /UNIQUE constraint failed: (?:\w+\.(\w+)|index '\w+?_(username|email)_lower_key')/.exec(message);
  const column = unique?.[1] ?? unique?.[2];
  if (column === "username" || column === "email" || column === "name") return new ConflictError(column);
  return error;
}
