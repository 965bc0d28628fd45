// The made-up language of the search benchmark: 20,000 words of 2-4 syllables, used with a Zipf law (the
// word of rank r about 1/r as often as the most common), and the queries the benchmark sends.

/** A small seeded PRNG (mulberry32): the same seed makes the same history. */
export function randomFrom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CONSONANTS = "bdfgklmnprstvz";
const VOWELS = "aeiou";

/** Most common first. */
export const WORDS: readonly string[] = (() => {
  const random = randomFrom(7);
  const words = new Set<string>();
  while (words.size < 20_000) {
    const syllables = 2 + Math.floor(random() * 3);
    let word = "";
    for (let i = 0; i < syllables; i++) {
      word += CONSONANTS[Math.floor(random() * CONSONANTS.length)]! + VOWELS[Math.floor(random() * VOWELS.length)]!;
    }
    words.add(word);
  }
  return [...words];
})();

const CUMULATIVE = (() => {
  let sum = 0;
  const sums = WORDS.map((_, rank) => (sum += 1 / (rank + 1)));
  return sums.map((s) => s / sum);
})();

/** A word drawn with the Zipf law. */
export function zipfWord(random: () => number): string {
  const x = random();
  let lo = 0;
  let hi = CUMULATIVE.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (CUMULATIVE[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return WORDS[lo]!;
}

/** A message: 4-16 words, now and then capitalised or accented, with punctuation. */
export function messageText(random: () => number): string {
  const count = 4 + Math.floor(random() * 13);
  const words: string[] = [];
  for (let i = 0; i < count; i++) {
    let word = zipfWord(random);
    if (random() < 0.05) word = word.replace("e", "é");
    if (i === 0) word = word[0]!.toUpperCase() + word.slice(1);
    words.push(word);
  }
  return words.join(" ") + (random() < 0.5 ? "." : "?");
}

/** A word of a rank in [from, to). */
const ranked = (random: () => number, from: number, to: number) => WORDS[from + Math.floor(random() * (to - from))]!;

/**
 * The benchmark's queries: one word (ranks 10-5,000: from in a message of 30 to one of 5,000), two words
 * (ranks 10-1,000 each), and a prefix (the first 3 letters of a word of rank 10-5,000, then *).
 */
export const SEARCH_QUERIES = {
  "one word": (random: () => number) => ranked(random, 10, 5000),
  "two words": (random: () => number) => `${ranked(random, 10, 1000)} ${ranked(random, 10, 1000)}`,
  prefix: (random: () => number) => `${ranked(random, 10, 5000).slice(0, 3)}*`,
} as const;
