// GET /search: full-text search over the history the user can read.
import { Elysia, t } from "elysia";
import { authGuard } from "../auth/guard.ts";
import { Detail } from "../auth/model.ts";
import type { AuthService } from "../auth/service.ts";
import { Decimal, Id } from "../ids.ts";
import { MessageResponse } from "../messages/model.ts";
import { SEARCH_LIMITS } from "./query.ts";
import type { SearchService } from "./service.ts";
import { SNIPPET_CHARS } from "./snippet.ts";
import { WORD_MAX } from "./text.ts";

const SearchQuery = t.Object({
  q: t.String({ description: "The query (see the route's description)" }),
  room_id: t.Optional(Id),
  before: t.Optional(Id),
  limit: t.Optional(Decimal({ minimum: 1, maximum: SEARCH_LIMITS.pageMax, default: SEARCH_LIMITS.pageDefault })),
});

const SearchResult = t.Composite([
  MessageResponse,
  t.Object({
    room_name: t.String({ description: "The room's name; for a direct room, the other person's username" }),
    snippet: t.String({
      description: "The message around its first match, HTML-escaped, matched words in <mark>...</mark>",
    }),
  }),
]);

const DESCRIPTION = [
  "Messages in the rooms you can read (public rooms, and the private and direct rooms you are a member of), newest first.",
  "",
  'The query: words (a message must hold all of them), `"a quoted phrase"` (its words adjacent, in order), a trailing `*` for a',
  `prefix (\`deplo*\`; at least ${SEARCH_LIMITS.prefixMin} characters before it), \`from:username\` and \`in:roomname\` (\`in:"two words"\`;`,
  "names match whole, ignoring case; a direct room's name is the other person's username; several `from:` or `in:` mean any of them).",
  "Case and accents are ignored (`café` finds `CAFE`). A word is a run of letters and digits: every other character only separates",
  "words, and `AND`, `OR`, `NOT`, `NEAR` are words like any other, so no query is a syntax error. Chinese and Japanese characters",
  "(Han, Hiragana, Katakana) are each a word, and a run of them is searched as a phrase: any message containing that run is found.",
  `Words are compared on their first ${WORD_MAX} characters.`,
  "",
  `Limits: \`q\` up to ${SEARCH_LIMITS.queryMax} characters (422 \`QUERY_TOO_LONG\`) with at least ${SEARCH_LIMITS.textMin} letters or digits to`,
  `look for besides \`from:\`/\`in:\` (422 \`QUERY_TOO_SHORT\`), at most ${SEARCH_LIMITS.filtersMax} \`from:\` and ${SEARCH_LIMITS.filtersMax} \`in:\`.`,
  `\`limit\` defaults to ${SEARCH_LIMITS.pageDefault}, at most ${SEARCH_LIMITS.pageMax}; \`before=<id>\` pages back (pass \`next_before\`, null on the last page).`,
  "`room_id` searches one room; one you cannot read is 404 `ROOM_NOT_FOUND`. An unknown `from:` user or `in:` room finds nothing.",
  `A snippet is the whole message up to ${SNIPPET_CHARS} characters, else ${SNIPPET_CHARS} characters around the first match, cut ends shown as \`…\`.`,
  "A message is found as soon as it is acknowledged; an edited one by its new words only; deleted messages and rooms never.",
].join("\n");

export function searchRoutes(auth: AuthService, search: SearchService) {
  return new Elysia({ name: "search-routes", seed: search })
    .use(authGuard(auth))
    .get("/search", async ({ query, user }) => search.search(user, query), {
      auth: true,
      query: SearchQuery,
      response: {
        200: t.Object({ results: t.Array(SearchResult), next_before: t.Nullable(t.Integer()) }),
        401: Detail,
        404: Detail,
        422: t.Any(),
      },
      detail: { tags: ["search"], summary: "Search the messages you can read", description: DESCRIPTION },
    });
}
