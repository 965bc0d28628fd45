// Configuration: defaults, the database URL forms, and one error naming every bad variable.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigError, DEFAULT_LIMITS, loadConfig, parseDatabaseUrl } from "../src/config.ts";
import { developmentSecretPath, keepDevelopmentSecret } from "../src/secret-file.ts";

const work = mkdtempSync(join(tmpdir(), "chat-config-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("config", () => {
  test("development defaults: embedded SQLite, port 8000, any origin, a generated secret with a warning", () => {
    const { config, warnings } = loadConfig({});
    expect(config.database).toEqual({ kind: "sqlite", path: resolve("chat.db") });
    expect(config.port).toBe(8000);
    expect(config.corsOrigins).toBe("*");
    expect(config.accessTokenTtlSeconds).toBe(1800);
    expect(config.bcryptCost).toBeGreaterThanOrEqual(10);
    expect(config.reusePort).toBe(false);
    expect(Buffer.byteLength(config.secretKey)).toBeGreaterThanOrEqual(32);
    expect(warnings.join()).toContain("SECRET_KEY");
    expect(Object.isFrozen(config)).toBe(true);
  });

  test("production refuses a missing or short SECRET_KEY", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/SECRET_KEY/);
    expect(() => loadConfig({ NODE_ENV: "production", SECRET_KEY: "short" })).toThrow(/at least 32 bytes/);
    const { config, warnings } = loadConfig({ NODE_ENV: "production", SECRET_KEY: "k".repeat(32) });
    expect(config.secretKey).toBe("k".repeat(32));
    expect(warnings).toEqual([]);
  });

  test("every bad variable is named in one error", () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: "eighty",
        BCRYPT_COST: "3",
        ACCESS_TOKEN_EXPIRE_MINUTES: "0",
        DATABASE_URL: "mysql://x",
        CORS_ORIGINS: "example.org",
        NODE_ENV: "staging",
        REUSE_PORT: "maybe",
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const name of [
      "PORT",
      "BCRYPT_COST",
      "ACCESS_TOKEN_EXPIRE_MINUTES",
      "DATABASE_URL",
      "CORS_ORIGINS",
      "NODE_ENV",
      "REUSE_PORT",
    ]) {
      expect(message).toContain(name);
    }
    expect((error as ConfigError).problems).toHaveLength(7);
  });

  test("limits per person: human defaults, raised from the environment, 0 = no socket cap, bad values named", () => {
    expect(loadConfig({}).config.limits).toEqual({
      messagesPerSecond: 10,
      messageBurst: 30,
      socketsPerUser: 20,
      signupsPerAddress: 5,
    });
    expect(DEFAULT_LIMITS).toEqual(loadConfig({}).config.limits);
    const { config } = loadConfig({
      RATE_MESSAGES_PER_SECOND: "5000",
      RATE_MESSAGE_BURST: "10000",
      MAX_SOCKETS_PER_USER: "0",
      RATE_SIGNUPS_PER_ADDRESS: "0",
    });
    expect(config.limits).toEqual({
      messagesPerSecond: 5000,
      messageBurst: 10000,
      socketsPerUser: 0,
      signupsPerAddress: 0,
    });
    expect(() =>
      loadConfig({
        RATE_MESSAGES_PER_SECOND: "0",
        RATE_MESSAGE_BURST: "1.5",
        MAX_SOCKETS_PER_USER: "-1",
        RATE_SIGNUPS_PER_ADDRESS: "many",
      }),
    ).toThrow(
      /RATE_MESSAGES_PER_SECOND[\s\S]*RATE_MESSAGE_BURST[\s\S]*MAX_SOCKETS_PER_USER[\s\S]*RATE_SIGNUPS_PER_ADDRESS/,
    );
  });

  test("CORS_ORIGINS takes a comma list of exact origins", () => {
    const { config } = loadConfig({ CORS_ORIGINS: "https://a.example, http://localhost:3000" });
    expect(config.corsOrigins).toEqual(["https://a.example", "http://localhost:3000"]);
  });

  test("database URLs: sqlite forms (including the seed's) and postgres", () => {
    expect(parseDatabaseUrl("sqlite:///./chat_app.db")).toEqual({ kind: "sqlite", path: resolve("chat_app.db") });
    expect(parseDatabaseUrl("sqlite:data/x.db")).toEqual({ kind: "sqlite", path: resolve("data/x.db") });
    expect(parseDatabaseUrl("sqlite::memory:")).toEqual({ kind: "sqlite", path: ":memory:" });
    expect(parseDatabaseUrl("postgresql://u:p@h:5432/db")).toEqual({
      kind: "postgres",
      url: "postgresql://u:p@h:5432/db",
    });
    expect(() => parseDatabaseUrl("sqlite:")).toThrow();
    expect(() => parseDatabaseUrl("mysql://u:secret@h/db")).toThrow(/\*\*\*/);
  });

  test("development's key file: beside the SQLite file, in the working folder for PostgreSQL, none in memory", () => {
    expect(developmentSecretPath({ kind: "sqlite", path: "/srv/chat/chat.db" })).toBe("/srv/chat/chat.db.secret");
    expect(developmentSecretPath({ kind: "postgres", url: "postgres://h/db" }, "/home/me/app")).toBe(
      "/home/me/app/.chat-secret",
    );
    expect(developmentSecretPath({ kind: "sqlite", path: ":memory:" })).toBeUndefined();
  });

  test("the key file is made once, reused, and refused when short or readable by others", () => {
    const path = join(work, "keys", "chat.db.secret");
    const made = keepDevelopmentSecret(path);
    expect(made.created).toBe(true);
    expect(Buffer.byteLength(made.key)).toBeGreaterThanOrEqual(32);
    expect(keepDevelopmentSecret(path)).toEqual({ ...made, created: false });
    chmodSync(path, 0o644);
    expect(() => keepDevelopmentSecret(path)).toThrow(/chmod 600/);
    writeFileSync(path, "short\n", { mode: 0o600 });
    chmodSync(path, 0o600);
    expect(() => keepDevelopmentSecret(path)).toThrow(/fewer than 32 bytes/);
    expect(readFileSync(path, "utf8")).toBe("short\n");
  });

  test("loadConfig asks for the kept key only in development, without SECRET_KEY, and once all else is valid", () => {
    const asked: string[] = [];
    const developmentSecret = () => {
      asked.push("asked");
      return { key: "k".repeat(64), path: "/x/chat.db.secret", created: true };
    };
    const kept = loadConfig({}, { developmentSecret });
    expect(kept.config.secretKey).toBe("k".repeat(64));
    expect(kept.secretFile).toEqual({ path: "/x/chat.db.secret", created: true });
    expect(kept.warnings).toEqual([]);
    expect(loadConfig({ SECRET_KEY: "s".repeat(32) }, { developmentSecret }).config.secretKey).toBe("s".repeat(32));
    expect(() => loadConfig({ NODE_ENV: "production" }, { developmentSecret })).toThrow(/required in production/);
    expect(() => loadConfig({ PORT: "x" }, { developmentSecret })).toThrow(/PORT/);
    expect(asked).toEqual(["asked"]);
    // Commands that sign no tokens (migrate, create-admin) have nothing to say about the key.
    expect(loadConfig({}, { signsTokens: false }).warnings).toEqual([]);
  });
});
