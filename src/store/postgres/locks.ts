// The advisory lock keys the store takes, in one place so that no two concerns share one by accident. (Presence
// locks are two-key locks on (room, user): another key space.)

/** Held while migrating, so that instances starting together take turns (migrate.ts). */
export const MIGRATION_LOCK = 72_160_001;
/**
 * Held by every message INSERT until its commit, on every instance: commits, and so notifications, happen in id
 * order, which lets each instance deliver every room's messages in id order (message-batch.ts).
 */
export const INSERT_LOCK = 72_160_002;
/** Held by whatever decides on "is there another admin" and then writes: admin signup and role changes (accounts.ts). */
export const ADMIN_LOCK = 72_160_003;
