// The `import-seed --from <url> [--dry-run]` command: progress and warnings on stderr, the summary on stdout.
import { parseDatabaseUrl } from "../config.ts";
import type { Store } from "../store/store.ts";
import { formatSummary, importSeed } from "./seed-import.ts";

export const IMPORT_SEED_USAGE = "import-seed --from <seed DATABASE_URL> [--dry-run]";

/** Returns the exit code: 0 done, 1 failed (nothing written), 2 bad arguments. */
export async function runImportSeed(args: readonly string[], openOurStore: () => Promise<Store>): Promise<number> {
  let from: string | undefined;
  let dryRun = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--dry-run") dryRun = true;
    else if (arg === "--from" && i + 1 < args.length) from = args[++i];
    else if (arg.startsWith("--from=")) from = arg.slice("--from=".length);
    else return usage(`unexpected argument: ${arg}`);
  }
  if (!from) return usage("--from is required");
  let seed;
  try {
    seed = parseDatabaseUrl(from);
  } catch (error) {
    return usage(`--from: ${(error as Error).message}`);
  }
  if (seed.kind === "sqlite" && seed.path === ":memory:")
    return usage("--from: an in-memory database has nothing to import");

  let store: Store | undefined;
  try {
    store = await openOurStore();
    const summary = await importSeed({ from, store, dryRun, log: (line) => console.error(line) });
    console.log(formatSummary(summary));
    return 0;
  } catch (error) {
    console.error(`import failed, nothing was written: ${(error as Error).message}`);
    return 1;
  } finally {
    await store?.close();
  }
}

function usage(problem: string): number {
  console.error(`${problem}\nusage: chat-server ${IMPORT_SEED_USAGE}`);
  return 2;
}
