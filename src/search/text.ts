// What search sees of a text: words folded for case and accents, the same for the index, the query and the
// snippet on both databases (the databases get the words ready-made, so their tokenizers decide nothing).

/** A word longer than this is indexed and searched by its first WORD_MAX characters (PostgreSQL caps lexemes). */
export const WORD_MAX = 64;

/**
 * A word: a run of letters, digits and combining marks; or one Han, Hiragana or Katakana character. Chinese and
 * Japanese are written without spaces, so each of their characters is a word of its own and a query's run of
 * them becomes a phrase: any text containing that run is found (a substring match, not a dictionary's words).
 */
const WORD =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|(?:(?![\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}])[\p{L}\p{N}\p{M}])+/gu;
/**
 * The combining diacritical marks (accents on Latin, Greek and Cyrillic letters once decomposed). Other scripts'
 * marks, such as Devanagari's vowel signs, are part of their letters and stay.
 */
const MARKS = /[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/g;

/** Lower case, then decomposed with the accents dropped: "Café" and "CAFE" both give "cafe". */
export function fold(text: string): string {
  return text.toLowerCase().normalize("NFD").replace(MARKS, "");
}

function clip(word: string): string {
  if (word.length <= WORD_MAX) return word;
  return Array.from(word).slice(0, WORD_MAX).join("");
}

export interface WordAt {
  word: string;
  start: number;
  end: number;
}

/** Every word of `text` with where it stands in `text` (UTF-16 offsets), folded and clipped. */
export function wordsAt(text: string): WordAt[] {
  const found: WordAt[] = [];
  for (const match of text.matchAll(WORD)) {
    const word = clip(fold(match[0]));
    if (word !== "") found.push({ word, start: match.index, end: match.index + match[0].length });
  }
  return found;
}

/**
 * The words of `text`, folded, in order: what the index holds for a message. The same words as wordsAt gives (folding
 * keeps word boundaries where they are), folded in one pass over the text instead of one per word.
 */
export function words(text: string): string[] {
  // Most chat is ASCII: there folding is lower case and a word is [a-z0-9]+ (what WORD finds there), three times faster.
  const ascii = ASCII.test(text);
  const found: string[] = [];
  for (const match of (ascii ? text.toLowerCase() : fold(text)).matchAll(ascii ? ASCII_WORD : WORD))
    found.push(clip(match[0]));
  return found;
}
// biome-ignore lint/suspicious/noControlCharactersInRegex: every ASCII code point, controls included
const ASCII = /^[\x00-\x7f]*$/;
const ASCII_WORD = /[a-z0-9]+/g;

/**
 * The words as a PostgreSQL tsvector literal, 'word':position, so PostgreSQL's parser never sees the text.
 * Words are letters, digits and nothing else, so they need no escaping; positions above 16,383 are PostgreSQL's cap.
 */
export function tsvectorLiteral(text: string): string {
  return words(text)
    .map((word, i) => `'${word}':${Math.min(i + 1, 16383)}`)
    .join(" ");
}

/** The words joined by spaces: what SQLite's FTS5 table is given (its unicode61 tokenizer splits on the spaces). */
export function ftsText(text: string): string {
  return words(text).join(" ");
}
