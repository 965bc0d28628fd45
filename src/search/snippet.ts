// The snippet of a search result: the part of a message around its first match, HTML-escaped, with the words
// that match marked <mark>...</mark>. Made here, from the same folded words the index holds.
import type { SearchTerm } from "./query.ts";
import { wordsAt } from "./text.ts";

/** A message up to this many characters is shown whole; a longer one is cut around its first match. */
export const SNIPPET_CHARS = 200;
/** How much of the text before the first match a cut snippet keeps. */
const LEAD = 60;

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

export function snippet(content: string, terms: readonly SearchTerm[]): string {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const term of terms) {
    term.words.forEach((word, i) =>
      term.prefix && i === term.words.length - 1 ? prefixes.push(word) : exact.add(word),
    );
  }
  const matches = wordsAt(content).filter(({ word }) => exact.has(word) || prefixes.some((p) => word.startsWith(p)));

  let from = 0;
  let to = content.length;
  if (content.length > SNIPPET_CHARS) {
    from = Math.max(0, (matches[0]?.start ?? 0) - LEAD);
    to = Math.min(content.length, from + SNIPPET_CHARS);
    // Never cut a surrogate pair (an emoji, a rare ideograph) in half.
    if (/[\uDC00-\uDFFF]/.test(content[from] ?? "")) from--;
    if (/[\uDC00-\uDFFF]/.test(content[to] ?? "")) to++;
  }
  let html = from > 0 ? "…" : "";
  let at = from;
  for (const m of matches) {
    if (m.start < from) continue;
    if (m.end > to) break;
    html += `${escapeHtml(content.slice(at, m.start))}<mark>${escapeHtml(content.slice(m.start, m.end))}</mark>`;
    at = m.end;
  }
  html += escapeHtml(content.slice(at, to));
  return to < content.length ? `${html}…` : html;
}
