ALTER TABLE `users` ADD `username_twin` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `users` ADD `email_twin` integer DEFAULT 0 NOT NULL;