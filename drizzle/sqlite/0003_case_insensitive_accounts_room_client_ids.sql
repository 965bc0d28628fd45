DROP INDEX `messages_user_id_client_id_key`;--> statement-breakpoint
CREATE UNIQUE INDEX `messages_room_id_user_id_client_id_key` ON `messages` (`room_id`,`user_id`,`client_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `users_username_lower_key` ON `users` (lower("username"),`username_twin`);--> statement-breakpoint
CREATE UNIQUE INDEX `users_email_lower_key` ON `users` (lower("email"),`email_twin`);