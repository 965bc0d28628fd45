-- Usernames and emails become unique whatever their case (the next migration's indexes). Accounts that are already
-- case twins of an older account (alice, then Alice) keep working: each later twin is marked with its own id,
-- which keeps it apart in those indexes. New accounts have 0 and collide with every older spelling.
UPDATE users SET username_twin = id
WHERE EXISTS (SELECT 1 FROM users older WHERE lower(older.username) = lower(users.username) AND older.id < users.id);
--> statement-breakpoint
UPDATE users SET email_twin = id
WHERE EXISTS (SELECT 1 FROM users older WHERE lower(older.email) = lower(users.email) AND older.id < users.id);
