// Every PostgreSQL client of the server is made here, so each gets the same safe defaults.
import postgres from "postgres";

/**
 * fetch_types off: postgres-js 3.4.9 reads the array types on every (re)connection with a query of its own whose
 * rejection nobody handles, so a connection killed during it ends the whole process (an unhandled rejection ends a
 * Bun process; test/faults.test.ts, "every PostgreSQL connection of the server killed"). No array goes through the
 * driver's types here: arrays travel as literals (arrayLiteral in store.ts). Notices are not logged.
 */
export function connectPostgres(url: string, options: postgres.Options<{}> = {}): postgres.Sql {
  return postgres(url, { onnotice: () => {}, ...options, fetch_types: false });
}
