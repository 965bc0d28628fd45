-- Full-text search (src/search/). The index holds each message's words as src/search/text.ts folds them (case and
-- accents): SQL cannot fold them, so the table is contentless (nothing stored twice) with contentless_delete, and a
-- trigger drops a message's words with its row, whatever deletes it (an edit rewrites them in the store).
-- It is written beside the group commit, not inside it (FTS5 rows written with each batch took 30-45 us of CPU per
-- message, three times the message itself): the store indexes every message above search_indexed.through_id a few
-- hundred milliseconds after it is stored, before every search, and when it closes, so a search never misses an
-- acknowledged message. Existing messages are indexed from the start when the program opens the database.
CREATE VIRTUAL TABLE messages_search USING fts5(words, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0');
--> statement-breakpoint
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
  DELETE FROM messages_search WHERE rowid = old.id;
END;
--> statement-breakpoint
CREATE TABLE search_indexed (through_id integer NOT NULL);
--> statement-breakpoint
INSERT INTO search_indexed (through_id) VALUES (0);
