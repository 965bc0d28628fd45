// The query language a person types: words (all must match), "a quoted phrase", a trailing * for a prefix,
// from:username and in:roomname (in:"two words"). Everything else is literal text: punctuation only separates
// words, and AND, OR, NOT, NEAR are words like any other. The stores build their database query from the
// parsed terms, never from the text.
import { AppError } from "../errors.ts";
import { assertStorableText } from "../messages/model.ts";
import { words } from "./text.ts";

export const SEARCH_LIMITS = {
  queryMax: 200,
  /** Characters of words to search for, from:/in: aside. */
  textMin: 2,
  /** A prefix shorter than this is searched as a whole word (a one-letter prefix matches nearly everything). */
  prefixMin: 2,
  /** from: and in: each. */
  filtersMax: 5,
  pageDefault: 20,
  pageMax: 50,
} as const;

/** A word, or a phrase (its words adjacent, in order); with `prefix` the last word may be the start of one. */
export interface SearchTerm {
  words: string[];
  prefix: boolean;
}

export interface ParsedQuery {
  terms: SearchTerm[];
  /** Usernames of from: and room names of in:, as typed (matched whole, ignoring case). */
  from: string[];
  in: string[];
}

const FILTER = /^(from|in):/i;

/** Parses `q`; a query with fewer than SEARCH_LIMITS.textMin characters of words is 422 QUERY_TOO_SHORT. */
export function parseQuery(q: string): ParsedQuery {
  assertStorableText(q, "q");
  if (q.length > SEARCH_LIMITS.queryMax) {
    throw new AppError("QUERY_TOO_LONG", { detail: `A search query is at most ${SEARCH_LIMITS.queryMax} characters` });
  }
  const parsed: ParsedQuery = { terms: [], from: [], in: [] };
  let i = 0;
  const space = (c: string | undefined) => c !== undefined && /\s/u.test(c);
  /** A quoted run from `at` (on the opening quote) to the closing one, or to the end when it is not closed. */
  const quoted = (at: number): [string, number] => {
    const close = q.indexOf('"', at + 1);
    return close === -1 ? [q.slice(at + 1), q.length] : [q.slice(at + 1, close), close + 1];
  };
  const bare = (at: number): [string, number] => {
    let end = at;
    while (end < q.length && !space(q[end])) end++;
    return [q.slice(at, end), end];
  };
  const addTerm = (text: string, prefix: boolean) => {
    const found = words(text);
    if (found.length === 0) return;
    const last = found[found.length - 1]!;
    parsed.terms.push({ words: found, prefix: prefix && Array.from(last).length >= SEARCH_LIMITS.prefixMin });
  };

  while (i < q.length) {
    if (space(q[i])) {
      i++;
      continue;
    }
    const filter = FILTER.exec(q.slice(i, i + 5));
    if (filter) {
      const at = i + filter[0].length;
      const [value, end] = q[at] === '"' ? quoted(at) : bare(at);
      if (value.trim() !== "") {
        (filter[1]!.toLowerCase() === "from" ? parsed.from : parsed.in).push(value.trim());
        i = end;
        continue;
      }
    }
    const [text, end] = q[i] === '"' ? quoted(i) : bare(i);
    // A trailing star, after a word or a closing quote, makes the last word a prefix.
    let stop = end;
    while (q[stop] === "*") stop++;
    addTerm(text, text.endsWith("*") || stop > end);
    i = stop;
  }

  const letters = parsed.terms.reduce((n, term) => n + term.words.reduce((m, w) => m + Array.from(w).length, 0), 0);
  if (letters < SEARCH_LIMITS.textMin) {
    throw new AppError("QUERY_TOO_SHORT", {
      detail: `A search needs at least ${SEARCH_LIMITS.textMin} letters or digits to look for (from: and in: aside)`,
    });
  }
  if (parsed.from.length > SEARCH_LIMITS.filtersMax || parsed.in.length > SEARCH_LIMITS.filtersMax) {
    throw new AppError("QUERY_TOO_LONG", {
      detail: `At most ${SEARCH_LIMITS.filtersMax} from: and ${SEARCH_LIMITS.filtersMax} in: in a search`,
    });
  }
  return parsed;
}
