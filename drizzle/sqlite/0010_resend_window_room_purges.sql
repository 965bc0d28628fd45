-- Issue 21: a resend is found in memory for the newest messages (src/store/sqlite/resend-window.ts), not by a unique
-- index that cost a page write per sender in every group commit; a deleted room's messages go in chunks (room-purge.ts).
CREATE TABLE `room_purges` (
	`room_id` integer PRIMARY KEY NOT NULL
);
--> statement-breakpoint
DROP INDEX `messages_room_id_user_id_client_id_key`;