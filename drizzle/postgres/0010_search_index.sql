-- The messages stored before migration search get their words (messages.search) from the program right after
-- the migrations (indexBacklog in src/store/postgres/store.ts), newest first, since SQL cannot fold them the way
-- src/search/text.ts does: this row says below which id some are left, and goes when none are.
CREATE TABLE search_backfill (below_id integer NOT NULL);
--> statement-breakpoint
INSERT INTO search_backfill (below_id) SELECT coalesce(max(id), 0) + 1 FROM messages;
