// Environment -> a validated, frozen Config. Every bad variable is reported in one error.
import { resolve } from "node:path";

export type Environment = "development" | "production" | "test";

export type DatabaseTarget = { kind: "sqlite"; path: string } | { kind: "postgres"; url: string };

export interface Config {
  env: Environment;
  database: DatabaseTarget;
  databasePoolSize: number;
  secretKey: string;
  accessTokenTtlSeconds: number;
  host: string;
  port: number;
  /** "*" allows any origin (the seed's default); otherwise exact origins. */
  corsOrigins: "*" | readonly string[];
  bcryptCost: number;
  reusePort: boolean;
  /** PostgreSQL only: an instance silent this long is presumed dead and its users leave their rooms. */
  instanceTtlSeconds: number;
  limits: Limits;
}

/** Limits per person, kept by each instance for itself (a user on two instances has two budgets). */
export interface Limits {
  /** Messages per user, over all their sockets and HTTP posts: a token bucket of `messageBurst` refilled at this rate. */
  messagesPerSecond: number;
  messageBurst: number;
  /** Open sockets per user; the next upgrade is refused with 429. 0 = no cap. */
  socketsPerUser: number;
  /** Signups per client address per SIGNUP_WINDOW_MS (src/auth/rate-limit.ts). 0 = no limit. */
  signupsPerAddress: number;
}

/** A person sends a few messages a second; load generators raise these through the environment. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  messagesPerSecond: 10,
  messageBurst: 30,
  socketsPerUser: 20,
  signupsPerAddress: 5,
});

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export const DEFAULT_DATABASE_URL = "sqlite:./chat.db";
export const MIN_SECRET_BYTES = 32;
/** An instance on PostgreSQL silent this long is presumed dead by the others (INSTANCE_TTL_SECONDS). */
export const DEFAULT_INSTANCE_TTL_SECONDS = 15;

export interface LoadedConfig {
  config: Readonly<Config>;
  warnings: string[];
  /** Where development keeps its key (SECRET_KEY unset), and whether this start made the file. */
  secretFile?: { path: string; created: boolean };
}

export interface LoadOptions {
  /**
   * Development without SECRET_KEY: the key kept for this database (see src/secret-file.ts), or undefined for a
   * random one per start. Called only once everything else is valid, so a bad configuration creates no file.
   */
  developmentSecret?: (database: DatabaseTarget) => { key: string; path: string; created: boolean } | undefined;
  /** False for commands that sign no tokens (migrate, create-admin, ...): no word about a missing SECRET_KEY. */
  signsTokens?: boolean;
}

export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  options: LoadOptions = {},
): LoadedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value === "" ? undefined : value;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };
  const boolean = (name: string, fallback: boolean): boolean => {
    const raw = read(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (["1", "true", "yes", "on"].includes(raw)) return true;
    if (["0", "false", "no", "off"].includes(raw)) return false;
    problems.push(`${name}=${JSON.stringify(raw)}: expected true or false`);
    return fallback;
  };

  const envName = read("NODE_ENV") ?? "development";
  let environment: Environment = "development";
  if (envName === "development" || envName === "production" || envName === "test") environment = envName;
  else problems.push(`NODE_ENV=${JSON.stringify(envName)}: expected development, production or test`);

  let database: DatabaseTarget = { kind: "sqlite", path: resolve("chat.db") };
  try {
    database = parseDatabaseUrl(read("DATABASE_URL") ?? DEFAULT_DATABASE_URL);
  } catch (error) {
    problems.push(`DATABASE_URL: ${(error as Error).message}`);
  }

  const secretKey = read("SECRET_KEY");
  if (secretKey !== undefined && Buffer.byteLength(secretKey) < MIN_SECRET_BYTES) {
    if (environment === "production") {
      problems.push(`SECRET_KEY: must be at least ${MIN_SECRET_BYTES} bytes (got ${Buffer.byteLength(secretKey)})`);
    } else {
      warnings.push(`SECRET_KEY is shorter than ${MIN_SECRET_BYTES} bytes; production refuses it`);
    }
  }
  if (secretKey === undefined && environment === "production") {
    problems.push(
      `SECRET_KEY: required in production (at least ${MIN_SECRET_BYTES} bytes, e.g. \`openssl rand -hex 32\`)`,
    );
  }

  let corsOrigins: Config["corsOrigins"] = "*";
  const cors = read("CORS_ORIGINS");
  if (cors !== undefined && cors !== "*") {
    const origins = cors
      .split(",")
      .map((o) => o.trim())
      .filter(Boolean);
    const bad = origins.filter((o) => !isOrigin(o));
    if (bad.length > 0) problems.push(`CORS_ORIGINS: not origins (scheme://host[:port]): ${bad.join(", ")}`);
    corsOrigins = Object.freeze(origins);
  }

  const config: Config = {
    env: environment,
    database,
    databasePoolSize: integer("DATABASE_POOL_SIZE", 10, 1, 100),
    secretKey: secretKey ?? "",
    accessTokenTtlSeconds: integer("ACCESS_TOKEN_EXPIRE_MINUTES", 30, 1, 7 * 24 * 60) * 60,
    host: read("HOST") ?? "0.0.0.0",
    port: integer("PORT", 8000, 0, 65535),
    corsOrigins,
    bcryptCost: integer("BCRYPT_COST", 10, 4, 31),
    reusePort: boolean("REUSE_PORT", false),
    instanceTtlSeconds: integer("INSTANCE_TTL_SECONDS", DEFAULT_INSTANCE_TTL_SECONDS, 3, 3600),
    limits: Object.freeze({
      messagesPerSecond: integer("RATE_MESSAGES_PER_SECOND", DEFAULT_LIMITS.messagesPerSecond, 1, 1_000_000),
      messageBurst: integer("RATE_MESSAGE_BURST", DEFAULT_LIMITS.messageBurst, 1, 1_000_000),
      socketsPerUser: integer("MAX_SOCKETS_PER_USER", DEFAULT_LIMITS.socketsPerUser, 0, 1_000_000),
      signupsPerAddress: integer("RATE_SIGNUPS_PER_ADDRESS", DEFAULT_LIMITS.signupsPerAddress, 0, 1_000_000),
    }),
  };
  if (problems.length > 0) throw new ConfigError(problems);

  let secretFile: LoadedConfig["secretFile"];
  if (secretKey === undefined) {
    let kept;
    try {
      kept = options.developmentSecret?.(database);
    } catch (error) {
      throw new ConfigError([
        `SECRET_KEY is not set and the development key cannot be kept: ${(error as Error).message}`,
      ]);
    }
    if (kept) {
      config.secretKey = kept.key;
      secretFile = { path: kept.path, created: kept.created };
    } else {
      config.secretKey = randomSecret();
      if (options.signsTokens !== false) {
        warnings.push("SECRET_KEY is not set: using a random key, so tokens stop working when the server restarts");
      }
    }
  }
  return { config: Object.freeze(config), warnings, secretFile };
}

/**
 * postgres:// and postgresql:// go to PostgreSQL. SQLite accepts `sqlite:path`, `sqlite://path`,
 * the seed's `sqlite:///./path` (SQLAlchemy style, relative) and `sqlite::memory:`.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (/^postgres(ql)?:\/\//.test(url)) {
    try {
      new URL(url);
    } catch {
      throw new Error("not a valid postgres:// URL");
    }
    return { kind: "postgres", url };
  }
  const sqlite = /^sqlite:(?:\/\/\/?)?(.*)$/.exec(url);
  if (sqlite) {
    const path = sqlite[1] ?? "";
    if (path === ":memory:") return { kind: "sqlite", path };
    if (path === "") throw new Error("sqlite: URL has no file path");
    return { kind: "sqlite", path: resolve(path) };
  }
  throw new Error(
    `unsupported scheme in ${JSON.stringify(url.replace(/\/\/[^@]*@/, "//***@"))}: use sqlite: or postgres://`,
  );
}

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.origin === value;
  } catch {
    return false;
  }
}

function randomSecret(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
}
