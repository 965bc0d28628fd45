-- Deleting messages never starts an FTS5 merge on the store's connection (whose thread answers the sockets): with the
-- default deletemerge of 10 %, a room's messages purged in chunks (room-purge.ts) paused it for 100-700 ms every few
-- hundred milliseconds. The indexer's merges, on its own thread, drop deleted entries as they go.
INSERT INTO messages_search (messages_search, rank) VALUES ('deletemerge', 100);
