CREATE TABLE `room_members` (
	`room_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`role` text NOT NULL,
	`joined_at` integer NOT NULL,
	PRIMARY KEY(`room_id`, `user_id`),
	FOREIGN KEY (`room_id`) REFERENCES `rooms`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `room_members_user_id_idx` ON `room_members` (`user_id`);--> statement-breakpoint
DROP INDEX `rooms_name_unique`;--> statement-breakpoint
ALTER TABLE `rooms` ADD `visibility` text DEFAULT 'public' NOT NULL;--> statement-breakpoint
ALTER TABLE `rooms` ADD `kind` text DEFAULT 'room' NOT NULL;--> statement-breakpoint
ALTER TABLE `rooms` ADD `direct_key` text;--> statement-breakpoint
CREATE UNIQUE INDEX `rooms_direct_key_unique` ON `rooms` (`direct_key`);--> statement-breakpoint
CREATE UNIQUE INDEX `rooms_public_name_key` ON `rooms` (`name`) WHERE visibility = 'public';