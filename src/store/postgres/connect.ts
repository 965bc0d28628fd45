// Every PostgreSQL client of the server is made here, so each gets the same safe defaults.
import postgres from "postgres";

/**
 * fetch_types off: postgres-js 3.4.9 reads the array types on every (re)connection with a query of its own whose
 * rejection nobody handles, so a connection killed during it ends the whole process (an unhandled rejection ends a
 * Bun process; test/faults.test.ts, "every PostgreSQL connection of the server killed"). No array goes through the
 * driver's types here: arrays travel as literals (arrayLiteral below). Notices are not logged.
 */
export function connectPostgres(url: string, options: postgres.Options<{}> = {}): postgres.Sql {
  return postgres(url, { onnotice: () => {}, ...options, fetch_types: false });
}

/**
 * Seconds before the next connection attempt. postgres-js's default grows to 20 s, and each failed attempt
 * refuses only one waiting query: in a database outage, messages waited that long for any answer, and the
 * server took that long to notice the database was back (measured in test/faults.test.ts).
 */
export const reconnectDelay = (retries: number) => Math.min(0.05 * 2 ** retries, 0.5);

/**
 * A PostgreSQL array literal, built here so no type lookup is needed: every element quoted (NULL bare), with
 * backslash and double quote escaped, per the array input syntax.
 */
export function arrayLiteral(values: readonly (string | number | null)[]): string {
  const items = values.map((v) => (v === null ? "NULL" : `"${String(v).replace(/["\\]/g, "\\$&")}"`));
  return `{${items.join(",")}}`;
}
