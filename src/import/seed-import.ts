// Moves the FastAPI seed's data in: maps its rows onto ours (ids are ours; re-runs change nothing), writes in one transaction.
import { LIMITS } from "../auth/model.ts";
import { AppError } from "../errors.ts";
import { normalizeContent } from "../messages/model.ts";
import { ROOM_LIMITS } from "../rooms/model.ts";
import {
  ConflictError,
  MissingReferenceError,
  type ImportBatch,
  type ImportMessage,
  type ImportRef,
  type NewUser,
  type Role,
  type RoomRecord,
  type Store,
  type UserRecord,
} from "../store/store.ts";
import { readSeed, type SeedData } from "./seed-reader.ts";

export interface Tally {
  imported: number;
  /** Already in our database: the same account, a room of the same name, a message stored by an earlier run. */
  existing: number;
  skipped: number;
}

export interface ImportSummary {
  dryRun: boolean;
  users: Tally;
  rooms: Tally;
  messages: Tally;
  /** Skipped users, renamed rooms, skipped messages grouped by reason: one line each. */
  warnings: string[];
}

export interface ImportSeedOptions {
  /** The seed's DATABASE_URL. */
  from: string;
  store: Store;
  dryRun?: boolean;
  log?: (line: string) => void;
}

const PROGRESS_EVERY = 10_000;
/** Messages are told apart from live ones, and re-runs find them, by this client_id under their author. */
const seedClientId = (seedMessageId: number) => `seed:${seedMessageId}`;

export async function importSeed(options: ImportSeedOptions): Promise<ImportSummary> {
  const { store, dryRun = false } = options;
  const log = options.log ?? (() => {});
  const seed = await readSeed(options.from);
  log(`seed: ${seed.users.length} users, ${seed.rooms.length} rooms, ${seed.messages.length} messages`);
  const plan = planImport(seed, await store.listUsers(), await store.listRooms(), Date.now());
  for (const warning of plan.warnings) log(`warning: ${warning}`);

  let reported = 0;
  const total = plan.batch.messages.length;
  let messagesStored: number;
  try {
    ({ messagesStored } = await store.importRecords(plan.batch, {
      dryRun,
      onProgress(done) {
        if (Math.floor(done / PROGRESS_EVERY) <= reported) return;
        reported = Math.floor(done / PROGRESS_EVERY);
        log(`messages: ${done} of ${total}`);
      },
    }));
  } catch (error) {
    // The plan was checked against our database a moment before: only a concurrent write gets here.
    if (error instanceof ConflictError || error instanceof MissingReferenceError) {
      throw new Error(`our database changed while importing (${error.message}); run the import again`);
    }
    throw error;
  }
  return {
    dryRun,
    users: { imported: plan.batch.users.length, existing: plan.existingUsers, skipped: plan.skippedUsers },
    rooms: { imported: plan.batch.rooms.length, existing: plan.existingRooms, skipped: 0 },
    messages: { imported: messagesStored, existing: total - messagesStored, skipped: plan.skippedMessages },
    warnings: plan.warnings,
  };
}

export function formatSummary(summary: ImportSummary): string {
  const line = (what: string, t: Tally) =>
    `${what.padEnd(9)} ${t.imported} imported, ${t.existing} already here, ${t.skipped} skipped`;
  return [
    summary.dryRun ? "dry run: nothing was written; the import would do this:" : "import done:",
    line("users:", summary.users),
    line("rooms:", summary.rooms),
    line("messages:", summary.messages),
    ...summary.warnings.map((w) => `  - ${w}`),
  ].join("\n");
}

interface Plan {
  batch: ImportBatch;
  existingUsers: number;
  skippedUsers: number;
  existingRooms: number;
  skippedMessages: number;
  warnings: string[];
}

/** Decides, row by row, what the import does. Pure: everything it knows of our database is passed in. */
function planImport(seed: SeedData, ourUsers: UserRecord[], ourRooms: RoomRecord[], now: number): Plan {
  const warnings: string[] = [];
  const newUsers: NewUser[] = [];
  const newRooms: { name: string; description: string | null; createdAt: Date }[] = [];
  const messages: ImportMessage[] = [];
  const when = (ms: number | null) => new Date(ms ?? now);

  // Users: an account of ours with the same username, email and hash is the same person (an earlier run);
  // any other clash of username or email (ignoring case, as signup does) skips the seed user, whose messages are
  // then skipped too.
  const userRef = new Map<number, ImportRef | string>(); // seed id -> ref, or why it was skipped
  const key = (text: string) => text.toLowerCase();
  const byUsername = new Map<string, ImportRef>(ourUsers.map((u) => [key(u.username), { id: u.id }]));
  const byEmail = new Map<string, ImportRef>(ourUsers.map((u) => [key(u.email), { id: u.id }]));
  const oursByName = new Map(ourUsers.map((u) => [u.username, u]));
  let existingUsers = 0;
  for (const u of seed.users) {
    const name = `user ${u.id} (${u.username})`;
    const skip = (reason: string) => {
      userRef.set(u.id, reason);
      warnings.push(`${name} skipped: ${reason}`);
    };
    const { username, email, hashedPassword: hash } = u;
    if (!username || username.length > LIMITS.usernameMax || !storable(username)) {
      skip(`username must be 1-${LIMITS.usernameMax} characters to log in`);
      continue;
    }
    if (!email || !storable(email)) {
      skip("no usable email");
      continue;
    }
    if (!hash || !storable(hash)) {
      skip("no password hash");
      continue;
    }
    const sameName = byUsername.get(key(username));
    const sameEmail = byEmail.get(key(email));
    const account = oursByName.get(username);
    if (account && account.email === email && account.passwordHash === hash) {
      userRef.set(u.id, { id: account.id });
      existingUsers++;
      continue;
    }
    const holder = (ref: ImportRef) => ("id" in ref ? "another account here" : "an earlier seed user");
    if (sameName) {
      skip(`the username belongs to ${holder(sameName)}`);
      continue;
    }
    if (sameEmail) {
      skip(`the email belongs to ${holder(sameEmail)}`);
      continue;
    }
    const role = seedRole(u.role);
    if (role === undefined) warnings.push(`${name}: unknown role ${JSON.stringify(u.role)}, imported as user`);
    if (!/^\$2[abxy]\$\d\d\$/.test(hash))
      warnings.push(`${name}: the password hash is not bcrypt, so this account cannot log in`);
    const ref = { index: newUsers.length };
    newUsers.push({ username, email, passwordHash: hash, role: role ?? "user", createdAt: when(u.createdAt) });
    userRef.set(u.id, ref);
    byUsername.set(key(username), ref);
    byEmail.set(key(email), ref);
  }

  // Rooms: the seed never made names unique, so later namesakes get " (2)", " (3)"... Names depend on the seed
  // alone, so every run gives the same ones; a room of ours with that name is taken to be the same room.
  const roomRef = new Map<number, ImportRef>();
  // Only public rooms: the seed's rooms are public, and private names are not unique (nor anyone else's to merge into).
  const publicRooms = ourRooms.filter((r) => r.visibility === "public");
  const roomByName = new Map<string, ImportRef>(publicRooms.map((r) => [r.name, { id: r.id }]));
  const given = new Set<string>();
  let existingRooms = 0;
  for (const r of seed.rooms) {
    const trimmed = r.name?.trim() ?? "";
    const base = trimmed !== "" && storable(trimmed) ? trimmed.slice(0, ROOM_LIMITS.nameMax) : `room ${r.id}`;
    let name = base;
    for (let n = 2; given.has(name); n++) name = `${base.slice(0, ROOM_LIMITS.nameMax - ` (${n})`.length)} (${n})`;
    given.add(name);
    if (name !== r.name) {
      const why =
        name !== base ? "another seed room has that name" : `names are 1-${ROOM_LIMITS.nameMax} characters, trimmed`;
      warnings.push(`room ${r.id} ${JSON.stringify(r.name)} is named ${JSON.stringify(name)}: ${why}`);
    }
    let ref = roomByName.get(name);
    if (ref) existingRooms++;
    else {
      ref = { index: newRooms.length };
      const description = r.description !== null && storable(r.description) ? r.description : null;
      if (description !== r.description)
        warnings.push(`room ${r.id}: its description has a NUL character and was dropped`);
      newRooms.push({ name, description, createdAt: when(r.createdAt) });
      roomByName.set(name, ref);
    }
    roomRef.set(r.id, ref);
  }

  // Messages, in seed id order so that our ids keep it.
  const skipped = new Map<string, number[]>();
  for (const m of seed.messages) {
    const author = m.userId === null ? undefined : userRef.get(m.userId);
    const room = m.roomId === null ? undefined : roomRef.get(m.roomId);
    let reason: string | undefined;
    let content = "";
    if (author === undefined) reason = "its author is not in the seed";
    else if (typeof author === "string") reason = "its author was skipped";
    else if (room === undefined) reason = "its room is not in the seed";
    else if (m.timestamp === null) reason = "no readable timestamp";
    else {
      try {
        content = normalizeContent(m.content ?? "");
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        reason = CONTENT_REASONS[error.code] ?? error.message;
      }
    }
    if (reason !== undefined) {
      skipped.get(reason)?.push(m.id) ?? skipped.set(reason, [m.id]);
      continue;
    }
    messages.push({
      room: room!,
      user: author as ImportRef,
      content,
      clientId: seedClientId(m.id),
      createdAt: new Date(m.timestamp!),
    });
  }
  let skippedMessages = 0;
  for (const [reason, ids] of skipped) {
    skippedMessages += ids.length;
    const shown = ids.slice(0, 10).join(", ") + (ids.length > 10 ? ", ..." : "");
    warnings.push(`${ids.length} message${ids.length === 1 ? "" : "s"} skipped: ${reason} (seed ids ${shown})`);
  }

  return {
    batch: { users: newUsers, rooms: newRooms, messages },
    existingUsers,
    skippedUsers: seed.users.length - newUsers.length - existingUsers,
    existingRooms,
    skippedMessages,
    warnings,
  };
}

const CONTENT_REASONS: Partial<Record<string, string>> = {
  CONTENT_EMPTY: "empty content",
  CONTENT_TOO_LONG: "content over 4,000 characters",
  TEXT_NOT_STORABLE: "content has a NUL character or an unpaired surrogate",
};

/** SQLAlchemy stored an Enum by name ("ADMIN") or by value ("admin"); undefined for anything else. */
function seedRole(role: string | null): Role | undefined {
  const value = (role ?? "user").toLowerCase();
  return value === "admin" || value === "user" ? value : undefined;
}

/** PostgreSQL text takes neither NUL nor a lone surrogate. */
function storable(value: string): boolean {
  return !value.includes("\u0000") && value.isWellFormed();
}
