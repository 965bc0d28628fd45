-- The messages stored before migration search get their words (messages.search) from the program right after
-- the migrations (indexBacklog in src/store/postgres/store.ts), newest first, since SQL cannot fold them the way
-- src/search/text.ts does: this row says below which id some are left, and goes when none are.
CREATE TABLE search_backfill (below_id integer NOT NULL);
--> statement-breakpoint
INSERT INTO search_backfill (below_id) SELECT coalesce(max(id), 0) + 1 FROM messages;

--> statement-breakpoint
-- The planner chooses between walking the messages newest first (a word in many messages) and reading the GIN
-- index (a rare one) from the words' statistics. With the default target it keeps about 1,000 words, and estimates
-- every other word, and every prefix, at 0.05 % of the rows: a prefix in 0.5 % of 1,000,000 messages then read
-- 5,000 rows through the index (p99 69 ms); with 10,000 words kept the same queries stay under 20 ms. ANALYZE (or
-- autovacuum) takes a few seconds longer on a large table.
ALTER TABLE messages ALTER COLUMN search SET STATISTICS 1000;
