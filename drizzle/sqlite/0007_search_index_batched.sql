-- Search on SQLite is indexed beside the group commit instead of inside it (measured: FTS5 rows written with each
-- batch of messages took 30-45 us of CPU per message, three times the message itself; written 4,096 at a time,
-- 5). The store indexes every message above search_indexed.through_id a few hundred milliseconds after it is
-- stored, before every search, and when it closes, so a search never misses an acknowledged message. The
-- prefix indexes go too (they doubled the indexing cost; prefix queries are fast enough without them).
-- Existing messages are indexed again from the start when the program opens the database.
DROP TABLE messages_search;
--> statement-breakpoint
CREATE VIRTUAL TABLE messages_search USING fts5(words, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0');
--> statement-breakpoint
DROP TABLE search_backfill;
--> statement-breakpoint
CREATE TABLE search_indexed (through_id integer NOT NULL);
--> statement-breakpoint
INSERT INTO search_indexed (through_id) VALUES (0);
