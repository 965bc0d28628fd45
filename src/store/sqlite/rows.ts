// What the store's parts share: the Drizzle database type.
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { schema } from "./schema.ts";

export type Db = BunSQLiteDatabase<typeof schema>;
