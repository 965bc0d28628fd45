// Messages once stored: history pages (mapped, and rendered as JSON for the hot read), lookups, edits and deletes.
import type postgres from "postgres";
import { and, asc, desc, eq, gt, inArray, lt, sql } from "drizzle-orm";
import { tsvectorLiteral } from "../../search/text.ts";
import { renderPage, type PageRow } from "../page-json.ts";
import type { HistoryQuery, UserRecord, MessageQueries } from "../store.ts";
import { CHANGE_LOG } from "./change-log.ts";
import { first, ROW_COLUMNS, toRecord, type Db, type MessageRow } from "./rows.ts";
import { messages, users } from "./schema.ts";

const p = sql.placeholder;

export function messageQueries(client: postgres.Sql, db: Db): MessageQueries {
  const messageColumns = {
    id: messages.id,
    roomId: messages.roomId,
    userId: messages.userId,
    content: messages.content,
    clientId: messages.clientId,
    createdAt: messages.createdAt,
    editedAt: messages.editedAt,
  };
  const messageById = db
    .select(messageColumns)
    .from(messages)
    .where(eq(messages.id, p("id")))
    .prepare("message_by_id");

  const withAuthor = { message: messageColumns, author: users };
  const page = () => db.select(withAuthor).from(messages).innerJoin(users, eq(users.id, messages.userId));
  const historyBefore = page()
    .where(and(eq(messages.roomId, p("roomId")), lt(messages.id, p("cursor"))))
    .orderBy(desc(messages.id))
    .limit(p("limit"))
    .prepare("history_before");
  const historyAfter = page()
    .where(and(eq(messages.roomId, p("roomId")), gt(messages.id, p("cursor"))))
    .orderBy(asc(messages.id))
    .limit(p("limit"))
    .prepare("history_after");
  const historySkip = page()
    .where(eq(messages.roomId, p("roomId")))
    .orderBy(desc(messages.id))
    .limit(p("limit"))
    .offset(p("skip"))
    .prepare("history_skip");

  // The hot history read: three constant statements (prepared once per connection), positional rows with times
  // as epoch milliseconds, rendered by page-json.ts. (Rendering the JSON in PostgreSQL cost more Bun CPU per page
  // than this: 116-204 us against the figures in docs/benchmarks.md.)
  const ms = (column: string) => `round(extract(epoch FROM ${column}) * 1000)::float8`;
  const pageSql = (where: string, order: string, offset: string) =>
    `SELECT m.id, m.content, ${ms("m.created_at")}, m.user_id, m.room_id, m.client_id, ${ms("m.edited_at")},
            u.username, u.role, ${ms("u.created_at")}
     FROM messages m JOIN users u ON u.id = m.user_id
     WHERE ${where} ORDER BY m.id ${order} LIMIT $3 ${offset}`;
  const pageStatements = {
    before: pageSql("m.room_id = $1 AND m.id < $2", "DESC", ""),
    after: pageSql("m.room_id = $1 AND m.id > $2", "ASC", ""),
    skip: pageSql("m.room_id = $1", "DESC", "OFFSET $2"),
  };

  return {
    async listMessages(roomId, query: HistoryQuery) {
      const rows =
        "before" in query
          ? await historyBefore.execute({ roomId, cursor: query.before, limit: query.limit })
          : "after" in query
            ? await historyAfter.execute({ roomId, cursor: query.after, limit: query.limit })
            : await historySkip.execute({ roomId, limit: query.limit, skip: query.skip });
      return rows.map(({ message, author }) => ({ ...message, author: author as UserRecord }));
    },
    async listMessagesJson(roomId, query: HistoryQuery) {
      const [kind, second] =
        "before" in query
          ? (["before", query.before] as const)
          : "after" in query
            ? (["after", query.after] as const)
            : (["skip", query.skip] as const);
      const rows = (await client
        .unsafe(pageStatements[kind], [roomId, second, query.limit], { prepare: true })
        .values()) as unknown as PageRow[];
      return { json: renderPage(rows), count: rows.length };
    },
    async findMessage(id) {
      return first(await messageById.execute({ id }));
    },
    async findMessagesByIds(ids) {
      if (ids.length === 0) return [];
      const rows = await page()
        .where(inArray(messages.id, [...ids]))
        .orderBy(asc(messages.id));
      return rows.map(({ message, author }) => ({ ...message, author: author as UserRecord }));
    },
    async newestMessageId() {
      const [row] = await client<{ id: number }[]>`SELECT coalesce(max(id), 0)::int AS id FROM messages`;
      return row!.id;
    },
    // An edit or delete is written to message_changes in the same statement (CHANGE_LOG), for other instances to
    // catch up on after their listener was away. An edit writes its new words too.
    async updateMessage(id, content, editedAt) {
      const [row] = await client<MessageRow[]>`
        WITH changed AS (UPDATE messages SET content = ${content}, edited_at = to_timestamp(${editedAt.getTime()} / 1000.0)
                         WHERE id = ${id} RETURNING *),
        words AS (INSERT INTO message_words (message_id, words) SELECT id, ${tsvectorLiteral(content)}::tsvector FROM changed
                  ON CONFLICT (message_id) DO UPDATE SET words = excluded.words)${client.unsafe(CHANGE_LOG("updated"))}
        SELECT ${client.unsafe(ROW_COLUMNS)} FROM changed`;
      return row && toRecord(row);
    },
    async deleteMessage(id) {
      const rows = await client`
        WITH changed AS (DELETE FROM messages WHERE id = ${id} RETURNING id, room_id)${client.unsafe(CHANGE_LOG("deleted"))}
        SELECT id FROM changed`;
      return rows.length > 0;
    },
  };
}
