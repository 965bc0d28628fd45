// Entry point: `serve` (default) loads the config, opens the store, builds the app and listens; `migrate` only migrates.
import { existsSync, rmSync } from "node:fs";
import { basename } from "node:path";
import { createApp, VERSION } from "./app.ts";
import { MAX_REQUEST_BODY_BYTES } from "./body-limit.ts";
import { ConfigError, loadConfig, type DatabaseTarget, type LoadedConfig, type LoadOptions } from "./config.ts";
import { createAdmin, CREATE_ADMIN_USAGE } from "./ops/create-admin.ts";
import { createStdoutLog } from "./ops/stdout-log.ts";
import { createPostgresBus } from "./realtime/bus-postgres.ts";
import { createPostgresPresence } from "./realtime/presence-postgres.ts";
import { IMPORT_SEED_USAGE, runImportSeed } from "./import/cli.ts";
import { developmentSecretPath, keepDevelopmentSecret } from "./secret-file.ts";
import { openStore } from "./store/open.ts";

/** Every instance on one PostgreSQL shares presence and hears the others through LISTEN/NOTIFY. */
function openCluster(url: string, instanceId: string, ttlSeconds: number) {
  return {
    bus: createPostgresBus(url, instanceId),
    presence: createPostgresPresence(url, instanceId, ttlSeconds * 1000),
  };
}

const USAGE = `Usage: ${selfCommand()} [command]

A chat server: accounts, rooms, history and live rooms over WebSocket, with the browser client at /chat and the
API documented at /docs. Runs on an embedded SQLite file by default, PostgreSQL for production.

Commands:
  serve        run the server (the default)
  migrate      apply database migrations and exit
  ${CREATE_ADMIN_USAGE}
               create an admin account; the password comes from $ADMIN_PASSWORD or stdin, never an argument.
               On SQLite, stop the server first (it holds the database file)
  ${IMPORT_SEED_USAGE}
               copy users (with their passwords), rooms and messages from the FastAPI app's database;
               --dry-run reports what would happen and writes nothing
  healthcheck  exit 0 if the server on $PORT answers /health (for a container HEALTHCHECK)
  --help       show this help
  --version    print the version

Environment (also read from a .env file in the working folder):
  NODE_ENV                     development   production requires SECRET_KEY
  DATABASE_URL                 sqlite:./chat.db   or sqlite::memory:, postgres://user:pass@host:5432/db
  DATABASE_POOL_SIZE           10            PostgreSQL connections (1-100)
  SECRET_KEY                   (development: made once, kept in <database>.secret, mode 0600)
                                             token signing key, at least 32 bytes
  ACCESS_TOKEN_EXPIRE_MINUTES  30            token lifetime (1-10080)
  HOST                         0.0.0.0       address to listen on
  PORT                         8000          port to listen on (0: any free port)
  CORS_ORIGINS                 *             comma list of allowed origins
  BCRYPT_COST                  10            password hashing cost (4-31)
  REUSE_PORT                   false         let several processes share one port
  INSTANCE_TTL_SECONDS         15            PostgreSQL: an instance silent this long is presumed dead (3-3600)
  RATE_MESSAGES_PER_SECOND     10            messages per user per second, sockets and HTTP together
  RATE_MESSAGE_BURST           30            messages a user may send at once before that rate applies
  MAX_SOCKETS_PER_USER         20            open WebSockets per user (0: no cap)
  RATE_SIGNUPS_PER_ADDRESS     5             signups per client address per 10 minutes (0: no limit)
  ADMIN_PASSWORD               (none)        create-admin's password; read from stdin when unset

Examples:
  ${selfCommand()}
      development on ./chat.db: open http://localhost:8000/chat; the first account signed up becomes the admin
  NODE_ENV=production SECRET_KEY=$(cat /run/secrets/chat-key) DATABASE_URL=postgres://chat@db:5432/chat ${selfCommand()}
      production on PostgreSQL; several instances behind a load balancer share the database and the key`;

/** How this program is started, for messages that name a command: the executable, or the source under Bun. */
function selfCommand(): string {
  return Bun.main.startsWith("/$bunfs/") ? basename(process.execPath) : "bun src/main.ts";
}

function configOrExit(options: LoadOptions = {}): LoadedConfig {
  try {
    const loaded = loadConfig(process.env, options);
    for (const warning of loaded.warnings) console.warn(`warning: ${warning}`);
    return loaded;
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

/** The files a start would leave behind if it fails: the SQLite database (when new) and a new development key. */
function madeByThisStart(database: DatabaseTarget, secretFile: LoadedConfig["secretFile"]): string[] {
  const made = secretFile?.created ? [secretFile.path] : [];
  if (database.kind === "sqlite" && database.path !== ":memory:" && !existsSync(database.path)) {
    made.push(database.path, `${database.path}-wal`, `${database.path}-shm`, `${database.path}.lock`);
  }
  return made;
}

async function serve(): Promise<void> {
  const { config, secretFile } = configOrExit({
    developmentSecret(database) {
      const path = developmentSecretPath(database);
      return path === undefined ? undefined : keepDevelopmentSecret(path);
    },
  });
  if (secretFile) {
    const how = secretFile.created ? "made a development key in" : "using the development key in";
    console.log(`SECRET_KEY is not set: ${how} ${secretFile.path} (owner-only; production requires SECRET_KEY)`);
  }
  const leftovers = madeByThisStart(config.database, secretFile);
  /** A start that fails takes away what it made, so the next try begins where this one did. */
  const failStart = async (close?: () => Promise<void>): Promise<never> => {
    await close?.();
    for (const path of leftovers) rmSync(path, { force: true });
    process.exit(1);
  };
  const instanceId = crypto.randomUUID();
  const cluster =
    config.database.kind === "postgres"
      ? openCluster(config.database.url, instanceId, config.instanceTtlSeconds)
      : undefined;
  const store = await openStore(config.database, { poolSize: config.databasePoolSize, instanceId }).catch((error) => {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return failStart();
  });
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
      console.error(
        `error: port ${config.port} on ${config.host} is already in use; stop the other server or set PORT`,
      );
    } else {
      console.error(`error: cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`);
    }
    await failStart(() => store.close());
  }
  const where = config.database.kind === "sqlite" ? `SQLite ${config.database.path}` : "PostgreSQL";
  const port = app.server?.port;
  // A wildcard address is not one a browser can open; name one it can.
  const wildcard = ["0.0.0.0", "::", "[::]"].includes(config.host);
  const open = `http://${wildcard ? "localhost" : config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  const lines = [
    `chat server ${VERSION} listening on http://${config.host}:${port} (${where})`,
    `  chat in the browser: ${open}/chat   API docs: ${open}/docs`,
  ];
  if (!(await store.hasAdmin().catch(() => true))) {
    // create-admin opens the database itself, and a running server holds a SQLite file.
    const stopFirst = config.database.kind === "sqlite" ? "stop the server and run" : "run";
    lines.push(
      `  no admin yet: the first account signed up in ${open}/chat becomes the admin ` +
        `(or ${stopFirst}: ${selfCommand()} ${CREATE_ADMIN_USAGE})`,
    );
  }
  // One write, so whoever waits for the "listening" line has the rest with it.
  console.log(lines.join("\n"));

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
  const { config } = configOrExit({ signsTokens: false });
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
else if (command === "import-seed")
  process.exit(
    await runImportSeed(rest, () => openStore(configOrExit({ signsTokens: false }).config.database, { poolSize: 2 })),
  );
else if (command === "healthcheck" && rest.length === 0) await healthcheck();
else if (command === "create-admin") process.exit(await createAdmin(rest, configOrExit({ signsTokens: false }).config));
else {
  console.error(`unknown command: ${[command, ...rest].join(" ")}\n\n${USAGE}`);
  process.exit(2);
}
