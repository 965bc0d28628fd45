-- Full-text search (src/search/). The index holds each message's words as src/search/text.ts folds them (case
-- and accents), written by the store in the message's own transaction: SQL cannot fold them, so the table is
-- contentless (nothing stored twice) with contentless_delete, and a trigger drops a message's words with its row,
-- whatever deletes it (an edit rewrites them in the store). Prefix indexes for 2 and 3 characters keep short
-- prefix queries from merging thousands of words' lists.
CREATE VIRTUAL TABLE messages_search USING fts5(words, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3');
--> statement-breakpoint
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
  DELETE FROM messages_search WHERE rowid = old.id;
END;
--> statement-breakpoint
-- The messages stored before this migration are indexed by the program right after it (indexBacklog in
-- src/store/sqlite/store.ts), newest first: this row says below which id some are left, and goes when none are.
CREATE TABLE search_backfill (below_id integer NOT NULL);
--> statement-breakpoint
INSERT INTO search_backfill (below_id) SELECT coalesce(max(id), 0) + 1 FROM messages;
