// Configuration: defaults, the database URL forms, and one error naming every bad variable.
import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { ConfigError, DEFAULT_LIMITS, loadConfig, parseDatabaseUrl } from "../src/config.ts";

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
      loadConfig({ PORT: "eighty", BCRYPT_COST: "3", ACCESS_TOKEN_EXPIRE_MINUTES: "0", DATABASE_URL: "mysql://x", CORS_ORIGINS: "example.org", NODE_ENV: "staging", REUSE_PORT: "maybe" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const name of ["PORT", "BCRYPT_COST", "ACCESS_TOKEN_EXPIRE_MINUTES", "DATABASE_URL", "CORS_ORIGINS", "NODE_ENV", "REUSE_PORT"]) {
      expect(message).toContain(name);
    }
    expect((error as ConfigError).problems).toHaveLength(7);
  });

  test("limits per person: human defaults, raised from the environment, 0 = no socket cap, bad values named", () => {
    expect(loadConfig({}).config.limits).toEqual({ messagesPerSecond: 10, messageBurst: 30, socketsPerUser: 20, signupsPerAddress: 5 });
    expect(DEFAULT_LIMITS).toEqual(loadConfig({}).config.limits);
    const { config } = loadConfig({ RATE_MESSAGES_PER_SECOND: "5000", RATE_MESSAGE_BURST: "10000", MAX_SOCKETS_PER_USER: "0", RATE_SIGNUPS_PER_ADDRESS: "0" });
    expect(config.limits).toEqual({ messagesPerSecond: 5000, messageBurst: 10000, socketsPerUser: 0, signupsPerAddress: 0 });
    expect(() => loadConfig({ RATE_MESSAGES_PER_SECOND: "0", RATE_MESSAGE_BURST: "1.5", MAX_SOCKETS_PER_USER: "-1", RATE_SIGNUPS_PER_ADDRESS: "many" })).toThrow(
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
    expect(parseDatabaseUrl("postgresql://u:p@h:5432/db")).toEqual({ kind: "postgres", url: "postgresql://u:p@h:5432/db" });
    expect(() => parseDatabaseUrl("sqlite:")).toThrow();
    expect(() => parseDatabaseUrl("mysql://u:secret@h/db")).toThrow(/\*\*\*/);
  });
});
