// Message search on the FTS5 table messages_search: newest first, in the rooms the reader may read.
import type { Database } from "bun:sqlite";
import type { SearchIndexer } from "../../search/indexer-thread.ts";
import { pageRowToMessage, type PageRow } from "../page-json.ts";
import type { SearchHit, SearchQuery, Store } from "../store.ts";

/** `search`: the indexer, caught up before each search so that every acknowledged message can be found. */
export function searchQueries(sqlite: Database, search: SearchIndexer): Pick<Store, "searchMessages"> {
  // Newest first straight down the FTS5 index's rowids (CROSS JOIN keeps it the outer loop), membership in SQL.
  // Room and author filters are JSON arrays, or null for none.
  const searchRows = sqlite.query<
    unknown,
    { match: string; before: number; reader: number; rooms: string | null; authors: string | null; limit: number }
  >(
    `SELECT m.id, m.content, m.created_at, m.user_id, m.room_id, m.client_id, m.edited_at,
            u.username, u.role, u.created_at,
            CASE WHEN r.kind = 'direct'
                 THEN coalesce((SELECT o.username FROM room_members d JOIN users o ON o.id = d.user_id
                                WHERE d.room_id = r.id AND d.user_id <> $reader LIMIT 1), '(deleted account)')
                 ELSE r.name END
     FROM messages_search s CROSS JOIN messages m CROSS JOIN users u CROSS JOIN rooms r
     WHERE messages_search MATCH $match AND s.rowid < $before
       AND m.id = s.rowid AND u.id = m.user_id AND r.id = m.room_id
       AND (r.visibility = 'public' OR EXISTS (SELECT 1 FROM room_members a WHERE a.room_id = r.id AND a.user_id = $reader))
       AND ($rooms IS NULL OR m.room_id IN (SELECT value FROM json_each($rooms)))
       AND ($authors IS NULL OR m.user_id IN (SELECT value FROM json_each($authors)))
     ORDER BY s.rowid DESC LIMIT $limit`,
  );

  return {
    async searchMessages(query) {
      await search.catchUp();
      const rows = searchRows.values({
        match: ftsMatch(query.terms),
        before: query.before ?? 2 ** 31,
        reader: query.readerId,
        rooms: query.roomIds && JSON.stringify(query.roomIds),
        authors: query.authorIds && JSON.stringify(query.authorIds),
        limit: query.limit,
      }) as unknown as [...PageRow, string][];
      return rows.map(
        (row): SearchHit => ({ message: pageRowToMessage(row as unknown as PageRow), roomName: row[10] }),
      );
    },
  };
}

/** FTS5 syntax for the terms: each a quoted string (the words hold letters and digits only), ANDed. */
function ftsMatch(terms: SearchQuery["terms"]): string {
  return terms.map((t) => `"${t.words.join(" ")}"${t.prefix ? "*" : ""}`).join(" ");
}
