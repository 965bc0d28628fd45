ALTER TABLE "users" ADD COLUMN "username_twin" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "email_twin" integer DEFAULT 0 NOT NULL;