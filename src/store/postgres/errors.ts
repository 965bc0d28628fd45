// PostgreSQL's errors in the Store's terms: which constraint refused a write, and which errors mean the connection
// they came from is gone.
import postgres from "postgres";
import { ConflictError, MissingReferenceError } from "../store.ts";

/**
 * Whether an error says the connection it came from is gone: postgres-js's own (CONNECTION_CLOSED, CONNECT_TIMEOUT,
 * ...), a socket's (ECONNRESET, EPIPE, ...), or a FATAL from the server. A statement's error leaves it usable.
 */
export function lostConnection(error: unknown): boolean {
  if (error instanceof postgres.PostgresError) return error.severity === "FATAL" || error.severity === "PANIC";
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("CONNECT") || /^E[A-Z]+$/.test(code));
}

export function mapConstraint(thrown: unknown): unknown {
  // Drizzle wraps the driver's error in DrizzleQueryError; the code is on its cause.
  const error = thrown instanceof Error && thrown.cause instanceof postgres.PostgresError ? thrown.cause : thrown;
  if (!(error instanceof postgres.PostgresError)) return thrown;
  if (error.code === "23503") return new MissingReferenceError();
  if (error.code === "23505") {
    const name = error.constraint_name ?? "";
    if (name.includes("username")) return new ConflictError("username");
    if (name.includes("email")) return new ConflictError("email");
    if (name.includes("name")) return new ConflictError("name");
  }
  return error;
}
