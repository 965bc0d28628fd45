CREATE TABLE "instances" (
	"id" text PRIMARY KEY NOT NULL,
	"heartbeat_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "presence" (
	"instance_id" text NOT NULL,
	"room_id" integer NOT NULL,
	"user_id" integer NOT NULL,
	"username" text NOT NULL,
	"sockets" integer NOT NULL,
	CONSTRAINT "presence_room_id_user_id_instance_id_pk" PRIMARY KEY("room_id","user_id","instance_id")
);
--> statement-breakpoint
ALTER TABLE "presence" ADD CONSTRAINT "presence_instance_id_instances_id_fk" FOREIGN KEY ("instance_id") REFERENCES "public"."instances"("id") ON DELETE cascade ON UPDATE no action;