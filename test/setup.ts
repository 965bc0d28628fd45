// Preloaded by bunfig.toml: socket and PostgreSQL tests need longer than bun's 5 s default. Bun 1.4 keeps a
// preload's default for the first test file only (oven-sh/bun#43787), so `bun run test` also passes --timeout
// 30000, which holds for every file; this line still serves `bun test test/<one file>`.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(30_000);
