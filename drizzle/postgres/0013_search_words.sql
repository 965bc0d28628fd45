-- Search words move out of messages into a table of their own, written beside the group commit by the store's
-- indexer (src/store/postgres/store.ts, createSearchIndexer) instead of by the message INSERT: the GIN entries
-- written with each batch doubled the time PostgreSQL took to store it. Every message above
-- search_indexed.through_id is waiting for its words; a search indexes those first, so none acknowledged is missed.
-- Words computed so far move with their messages; those still left to the backfill (search_backfill) stay left.
CREATE TABLE "message_words" (
	"message_id" integer PRIMARY KEY NOT NULL,
	"words" "tsvector" NOT NULL
);
--> statement-breakpoint
INSERT INTO message_words (message_id, words) SELECT id, search FROM messages WHERE search IS NOT NULL;
--> statement-breakpoint
CREATE TABLE search_indexed (through_id integer NOT NULL);
--> statement-breakpoint
INSERT INTO search_indexed (through_id) SELECT coalesce(max(id), 0) FROM messages;
--> statement-breakpoint
DROP INDEX "messages_search_idx";--> statement-breakpoint
ALTER TABLE "messages" DROP COLUMN "search";--> statement-breakpoint
CREATE INDEX "message_words_words_idx" ON "message_words" USING gin ("words");--> statement-breakpoint
-- As migration search_statistics did for messages.search: 10,000 words kept, so the planner walks the words newest
-- first for a common word or prefix and reads the GIN index for a rare one.
ALTER TABLE message_words ALTER COLUMN words SET STATISTICS 1000;
--> statement-breakpoint
-- Whatever deletes messages (a message, a room's, a user's) deletes their words, once per statement.
CREATE FUNCTION message_words_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM message_words w USING gone WHERE w.message_id = gone.id;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER message_words_delete AFTER DELETE ON messages REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT EXECUTE FUNCTION message_words_delete();
