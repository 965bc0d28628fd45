// A new, empty PostgreSQL database for one test file or benchmark run, and its removal. Shared by test/support.ts
// and the benchmarks (bench/run.ts, bench/cluster.ts, bench/join.ts), which import nothing else of the tests.
import postgres from "postgres";

let scratchCounter = 0;

/** A new, empty database on the cluster of `adminUrl` (DATABASE_URL by default), named `<prefix>_<pid>_<time>_<n>`. */
export async function scratchDatabase(
  prefix: string,
  adminUrl = process.env.DATABASE_URL ?? "",
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${scratchCounter++}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}
