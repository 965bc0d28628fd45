// What PostgreSQL's wal_compression does to the storage floor in many small rooms once the table is big (issue 21):
// a table shaped as `messages` (both indexes, the unique resend index among them) filled with --prefill messages,
// then, per setting in turn, a CHECKPOINT and --messages more in batches of 240 (200 rooms, 1,000 authors, a random
// UUID client_id each, as many-rooms sends them): wall time and WAL bytes per message. The first batches after a
// checkpoint write a full-page image of every index page they dirty; wal_compression compresses those images.
// Set per session (a superuser may), so the server's configuration is left alone.
//   bun bench/wal-settings.ts [--prefill 1000000] [--messages 24000] [--rounds 3] [--settings off,lz4,zstd]
//                             [--resend-fillfactor 90]   (the unique resend index's; 90 is PostgreSQL's default)
// BENCH_POSTGRES_URL: the admin URL (default postgres://postgres@127.0.0.1:5432/test).
import { parseArgs } from "node:util";
import postgres from "postgres";
import { scratchDatabase } from "../test/scratch-database.ts";

const { values } = parseArgs({
  options: {
    prefill: { type: "string", default: "1000000" },
    messages: { type: "string", default: "24000" },
    rounds: { type: "string", default: "3" },
    settings: { type: "string", default: "off,lz4,zstd" },
    "resend-fillfactor": { type: "string", default: "90" },
  },
});
const prefill = Number(values.prefill);
const messages = Number(values.messages);
const settings = values.settings.split(",");
const BATCH = 240;
const ROOMS = 200;
const AUTHORS = 1000;

const scratch = await scratchDatabase(
  "bench_wal",
  process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test",
);
const sql = postgres(scratch.url, { max: 1, onnotice: () => {} });
try {
  await sql.unsafe(`
    CREATE TABLE messages (id bigserial PRIMARY KEY, room_id integer NOT NULL, user_id integer NOT NULL,
                           content text NOT NULL, client_id text, created_at timestamptz NOT NULL);
    CREATE INDEX messages_room_id_id_user_id ON messages (room_id, id, user_id);
    CREATE UNIQUE INDEX messages_room_id_user_id_client_id ON messages (room_id, user_id, client_id)
      WITH (fillfactor = ${Number(values["resend-fillfactor"])});`);
  const filled = performance.now();
  await sql`INSERT INTO messages (room_id, user_id, content, client_id, created_at)
    SELECT 1 + (n % ${ROOMS}), 1 + (n::bigint * 7919 % ${AUTHORS}), 'message ' || n, gen_random_uuid()::text, now()
    FROM generate_series(1, ${prefill}) AS n`;
  await sql`VACUUM ANALYZE messages`;
  console.error(`prefilled ${prefill} messages in ${((performance.now() - filled) / 1000).toFixed(1)} s`);

  const literal = (xs: readonly (number | string)[]) =>
    `{${xs.map((x) => (typeof x === "number" ? x : `"${x}"`)).join(",")}}`;
  let sent = 0;
  async function round(setting: string) {
    await sql.unsafe(`SET wal_compression = '${setting}'`);
    await sql`CHECKPOINT`;
    const before = (await sql<{ lsn: string }[]>`SELECT pg_current_wal_lsn() AS lsn`)[0]!.lsn;
    const started = performance.now();
    for (let done = 0; done < messages; done += BATCH) {
      const rooms: number[] = [];
      const users: number[] = [];
      const contents: string[] = [];
      const clients: string[] = [];
      for (let i = 0; i < BATCH; i++, sent++) {
        rooms.push(1 + ((sent * 31) % ROOMS));
        users.push(1 + ((sent * 7919) % AUTHORS));
        contents.push(`new message ${sent}`);
        clients.push(crypto.randomUUID());
      }
      await sql`INSERT INTO messages (room_id, user_id, content, client_id, created_at)
        SELECT room_id, user_id, content, client_id, now()
        FROM unnest(${literal(rooms)}::int[], ${literal(users)}::int[], ${literal(contents)}::text[],
                    ${literal(clients)}::text[]) AS t(room_id, user_id, content, client_id)
        ON CONFLICT (room_id, user_id, client_id) DO NOTHING RETURNING id`;
    }
    const wallUs = ((performance.now() - started) * 1000) / messages;
    const bytes = (
      await sql<{ bytes: number }[]>`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ${before}::pg_lsn)::float8 AS bytes`
    )[0]!.bytes;
    return {
      setting,
      wallUsPerMessage: Math.round(wallUs * 10) / 10,
      walBytesPerMessage: Math.round(bytes / messages),
    };
  }

  for (let r = 0; r < Number(values.rounds); r++) {
    for (const setting of settings) console.log(JSON.stringify({ round: r + 1, ...(await round(setting)) }));
  }
} finally {
  await sql.end();
  await scratch.drop();
}
