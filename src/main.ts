// Entry point: `serve` (default) loads the config, opens the store, builds the app and listens; `migrate` only migrates.
import { createApp, VERSION } from "./app.ts";
import { MAX_REQUEST_BODY_BYTES } from "./body-limit.ts";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { createAdmin, CREATE_ADMIN_USAGE } from "./ops/create-admin.ts";
import { createStdoutLog } from "./ops/stdout-log.ts";
import { createPostgresBus } from "./realtime/bus-postgres.ts";
import { createPostgresPresence } from "./realtime/presence-postgres.ts";
import { runImportSeed } from "./import/cli.ts";
import { openStore } from "./store/open.ts";

/** Every instance on one PostgreSQL shares presence and hears the others through LISTEN/NOTIFY. */
function openCluster(url: string, instanceId: string, ttlSeconds: number) {
  return { bus: createPostgresBus(url, instanceId), presence: createPostgresPresence(url, instanceId, ttlSeconds * 1000) };
}

const USAGE = `Usage: chat-server [command]

Commands:
  serve      run the server (default)
  migrate    apply database migrations and exit
  import-seed --from <url> [--dry-run]  import the FastAPI app's database, passwords included (README.md)
  healthcheck  exit 0 if the server on $PORT answers /health (for container HEALTHCHECK)
  ${CREATE_ADMIN_USAGE}  create an admin; password from $ADMIN_PASSWORD or stdin

Options:
  --help     show this help
  --version  print the version

Configuration comes from the environment; see README.md (DATABASE_URL, SECRET_KEY, PORT, ...).`;

function configOrExit(): Config {
  try {
    const { config, warnings } = loadConfig();
    for (const warning of warnings) console.warn(`warning: ${warning}`);
    return config;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}

function exitOnStoreError(error: unknown): never {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

async function serve(): Promise<void> {
  const config = configOrExit();
  const instanceId = crypto.randomUUID();
  const cluster = config.database.kind === "postgres" ? openCluster(config.database.url, instanceId, config.instanceTtlSeconds) : undefined;
  const store = await openStore(config.database, { poolSize: config.databasePoolSize, instanceId }).catch(exitOnStoreError);
  const { app, shutdown, hub } = await createApp({ store, config, cluster, requestLog: createStdoutLog().log });
  await cluster?.presence.start(hub.presenceHandlers);
  try {
    app.listen({
      hostname: config.host,
      port: config.port,
      // Elysia turns reusePort on, which lets a second server silently share a taken port.
      reusePort: config.reusePort,
      maxRequestBodySize: MAX_REQUEST_BODY_BYTES,
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "EADDRINUSE" || /in use/i.test(String(error))) {
      console.error(`error: port ${config.port} on ${config.host} is already in use; stop the other server or set PORT`);
    } else {
      console.error(`error: cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`);
    }
    await store.close();
    process.exit(1);
  }
  const where = config.database.kind === "sqlite" ? `SQLite ${config.database.path}` : "PostgreSQL";
  console.log(`chat server ${VERSION} listening on http://${config.host}:${app.server?.port} (${where})`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: shutting down`);
    await shutdown();
    await cluster?.presence.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

async function migrate(): Promise<void> {
  const config = configOrExit();
  const store = await openStore(config.database, { poolSize: 1 }).catch(exitOnStoreError);
  await store.close();
  console.log("migrations applied");
}

async function healthcheck(): Promise<void> {
  const port = process.env.PORT || "8000";
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
    process.exit(response.ok ? 0 : 1);
  } catch {
    process.exit(1);
  }
}

const [command = "serve", ...rest] = process.argv.slice(2);
if (command === "--help" || command === "-h" || command === "help") console.log(USAGE);
else if (command === "--version" || command === "-v") console.log(VERSION);
else if (command === "serve" && rest.length === 0) await serve();
else if (command === "migrate" && rest.length === 0) await migrate();
else if (command === "import-seed") process.exit(await runImportSeed(rest, () => openStore(configOrExit().database, { poolSize: 2 })));
else if (command === "healthcheck" && rest.length === 0) await healthcheck();
else if (command === "create-admin") process.exit(await createAdmin(rest, configOrExit()));
else {
  console.error(`unknown command: ${[command, ...rest].join(" ")}\n\n${USAGE}`);
  process.exit(2);
}
