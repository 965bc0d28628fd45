// Message search on message_words (tsvector, GIN): newest first, in the rooms the reader may read.
import type postgres from "postgres";
import type { SearchIndexer } from "../../search/indexer-thread.ts";
import { pageRowToMessage, type PageRow } from "../page-json.ts";
import type { SearchHit, SearchQuery, Store } from "../store.ts";
import { arrayLiteral } from "./connect.ts";

/** `search`: the indexer, caught up before each search so that every acknowledged message can be found. */
export function searchQueries(client: postgres.Sql, search: SearchIndexer): Pick<Store, "searchMessages"> {
  return {
    async searchMessages(query) {
      await search.catchUp();
      const rows = (await client
        .unsafe(
          SEARCH_SQL,
          [
            tsqueryLiteral(query.terms),
            query.before ?? 2 ** 31 - 1,
            query.readerId,
            query.roomIds && arrayLiteral(query.roomIds),
            query.authorIds && arrayLiteral(query.authorIds),
            query.limit,
          ],
          // Planned for each query, not once: whether to walk the newest words first (a common word) or read the GIN
          // index (a rare one) depends on the words, and a generic plan cannot see them.
          { prepare: false },
        )
        .values()) as unknown as [...PageRow, string][];
      return rows.map(
        (row): SearchHit => ({ message: pageRowToMessage(row as unknown as PageRow), roomName: row[10] }),
      );
    },
  };
}

/**
 * tsquery syntax for the terms, as a literal (the words hold letters and digits only, so quoting them is enough):
 * a phrase's words joined by <-> (adjacent), :* on a prefix, the terms ANDed.
 */
function tsqueryLiteral(terms: SearchQuery["terms"]): string {
  return terms
    .map((t) => `(${t.words.map((w, i) => `'${w}'${t.prefix && i === t.words.length - 1 ? ":*" : ""}`).join(" <-> ")})`)
    .join(" & ");
}

/** Newest first; membership in SQL. $4 rooms and $5 authors are int[] literals, or null for no filter. */
const SEARCH_SQL = `
  SELECT m.id, m.content, round(extract(epoch FROM m.created_at) * 1000)::float8, m.user_id, m.room_id, m.client_id,
         round(extract(epoch FROM m.edited_at) * 1000)::float8, u.username, u.role, round(extract(epoch FROM u.created_at) * 1000)::float8,
         CASE WHEN r.kind = 'direct'
              THEN coalesce((SELECT o.username FROM room_members d JOIN users o ON o.id = d.user_id
                             WHERE d.room_id = r.id AND d.user_id <> $3 LIMIT 1), '(deleted account)')
              ELSE r.name END
  FROM message_words w JOIN messages m ON m.id = w.message_id JOIN users u ON u.id = m.user_id JOIN rooms r ON r.id = m.room_id
  WHERE w.words @@ $1::tsquery AND w.message_id < $2
    AND (r.visibility = 'public' OR EXISTS (SELECT 1 FROM room_members a WHERE a.room_id = r.id AND a.user_id = $3))
    AND ($4::int[] IS NULL OR m.room_id = ANY($4::int[]))
    AND ($5::int[] IS NULL OR m.user_id = ANY($5::int[]))
  ORDER BY w.message_id DESC LIMIT $6`;
