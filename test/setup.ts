// Preloaded by bunfig.toml: socket and PostgreSQL tests need longer than bun's 5 s default.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(30_000);
