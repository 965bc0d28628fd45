// The Store interface: everything the services need from a database, in domain terms.

export type Role = "admin" | "user";
/** Disabled: cannot log in, refresh or use a token. Deleted: the row stays, anonymised, as its messages' author. */
export type AccountStatus = "active" | "disabled" | "deleted";

/**
 * The username every deleted account shows (and stores: its username_twin is its own id, which keeps these rows
 * apart in the case-insensitive unique index). Signup cannot produce it: a space is not allowed in a username.
 */
export const DELETED_USERNAME = "deleted user";

export interface UserRecord {
  id: number;
  username: string;
  email: string;
  passwordHash: string;
  role: Role;
  /** Bumped on logout and role change; tokens carrying an older version are refused. */
  tokenVersion: number;
  status: AccountStatus;
  createdAt: Date;
}

/**
 * A change to an account. Every one bumps the token version (the account's access tokens stop); all but a role-only
 * change also revoke its refresh tokens (expired, not deleted), so the empty change is a logout. `status: "deleted"` also anonymises the
 * row: username DELETED_USERNAME, email `~deleted~<id>`, an unusable password hash, role "user".
 */
export interface AccountChange {
  role?: Role;
  status?: AccountStatus;
  passwordHash?: string;
}

export interface NewRefreshToken {
  /** SHA-256 of the token, base64url; the token itself is never stored. */
  hash: string;
  familyId: string;
  userId: number;
  createdAt: Date;
  expiresAt: Date;
}

export interface RefreshTokenRecord extends NewRefreshToken {
  spentAt: Date | null;
}

export type Visibility = "public" | "private";
/** A room people are added to, or the direct room of two people. */
export type RoomKind = "room" | "direct";
export type MemberRole = "owner" | "member";

export interface RoomRecord {
  id: number;
  /** Empty for a direct room: each of its two people sees the other's username. */
  name: string;
  description: string | null;
  visibility: Visibility;
  kind: RoomKind;
  createdAt: Date;
}

/** A room as a list shows it: public rooms have no members (null); a direct room names its two people. */
export interface RoomListing extends RoomRecord {
  memberCount: number | null;
  /** The reader's role in the room: null when they are not a member (always, in public rooms). */
  readerRole: MemberRole | null;
  directPeople: { id: number; username: string }[] | null;
}

export interface NewRoom {
  name: string;
  description: string | null;
  createdAt: Date;
  /** Default public. A private room needs `ownerId`, its first member. */
  visibility?: Visibility;
  ownerId?: number;
}

export interface MemberRecord {
  roomId: number;
  userId: number;
  username: string;
  role: MemberRole;
  joinedAt: Date;
}

/** Where a user is in a room: their read position, what is unread after it, and the newest message. */
export interface RoomActivity {
  lastReadId: number | null;
  /** Messages after the position by others, counted up to UNREAD_CAP + 1; null when nothing is counted. */
  unread: number | null;
  lastMessage: { id: number; userId: number; username: string; content: string; createdAt: Date } | null;
}

/** Unread messages are counted exactly up to this many; past it a room reports the cap. */
export const UNREAD_CAP = 1000;
/** How much of the newest message a room listing carries. */
export const LAST_MESSAGE_CHARS = 200;

/** What removing a member did: a room left without owner gets its longest-standing member as owner, one left empty goes. */
export interface MemberRemoval {
  removed: boolean;
  newOwner: MemberRecord | null;
  roomDeleted: boolean;
}

export interface MessageRecord {
  id: number;
  roomId: number;
  userId: number;
  content: string;
  clientId: string | null;
  createdAt: Date;
  editedAt: Date | null;
}

export interface StoredMessage {
  record: MessageRecord;
  duplicate: boolean;
}

/** A message with its author, as history pages return it. */
/** What a message shows of its author (history items, frames, search results): never the email or secrets. */
export type MessageAuthor = Pick<UserRecord, "id" | "username" | "role" | "createdAt">;

export interface MessageWithAuthor extends MessageRecord {
  author: MessageAuthor;
}

export interface NewUser {
  username: string;
  email: string;
  passwordHash: string;
  role: Role;
  createdAt: Date;
}

export interface MessageChange {
  roomId: number;
  messageId: number;
  kind: "updated" | "deleted";
}

export interface NewMessage {
  roomId: number;
  userId: number;
  content: string;
  clientId: string | null;
  createdAt: Date;
}

/** An import's reference to a user or room: one already stored (`id`), or one the same import creates (`index`). */
export type ImportRef = { id: number } | { index: number };

/** The id a reference stands for, given the ids the import has created so far. */
export function resolveImportRef(ref: ImportRef, created: readonly number[]): number {
  if ("id" in ref) return ref.id;
  const id = created[ref.index];
  if (id === undefined) throw new Error(`import: reference to row ${ref.index}, which the import does not create`);
  return id;
}

export interface ImportMessage {
  room: ImportRef;
  user: ImportRef;
  content: string;
  clientId: string;
  createdAt: Date;
}

export interface ImportBatch {
  users: readonly NewUser[];
  rooms: readonly { name: string; description: string | null; createdAt: Date }[];
  messages: readonly ImportMessage[];
}

export interface ImportResult {
  /** Ids of the created users and rooms, in input order. */
  userIds: number[];
  roomIds: number[];
  /** Messages stored; the others were stored by an earlier import (same room, user and clientId). */
  messagesStored: number;
}

/** One page of a room's history. `before`/`after` are message ids; without either, `skip` offsets from the newest. */
export type HistoryQuery =
  | { limit: number; before: number }
  | { limit: number; after: number }
  | { limit: number; skip: number };

/** The columns an account change writes (besides the token version). */
export function accountAfter(user: UserRecord, change: AccountChange) {
  if (change.status === "deleted") {
    return {
      username: DELETED_USERNAME,
      usernameTwin: user.id,
      email: `~deleted~${user.id}`,
      // Not a bcrypt hash: no password verifies against it.
      passwordHash: "!",
      role: "user" as const,
      status: "deleted" as const,
    };
  }
  const { username, email } = user;
  return { username, email, passwordHash: change.passwordHash ?? user.passwordHash, role: change.role ?? user.role, status: change.status ?? user.status };
}

/** Whether going from `user` to `next` takes away an active admin. */
export function leavesNoAdmin(user: UserRecord, next: { role: Role; status: AccountStatus }): boolean {
  return user.role === "admin" && user.status === "active" && !(next.role === "admin" && next.status === "active");
}

export const isRoleOnly = (change: AccountChange) => change.role !== undefined && change.status === undefined && change.passwordHash === undefined;

/** A search as the stores run it: the terms come parsed and folded (src/search/query.ts), never as typed. */
export interface SearchQuery {
  /** Only rooms this user may read: public rooms and the rooms they are a member of. */
  readerId: number;
  /** All must match: each a word, or a phrase of adjacent words; `prefix` makes the last word a prefix. */
  terms: readonly { words: readonly string[]; prefix: boolean }[];
  /** Only these rooms / authors (any of them); null for no such filter. */
  roomIds: readonly number[] | null;
  authorIds: readonly number[] | null;
  /** Only messages with a lower id. */
  before: number | null;
  limit: number;
}

/** A message search found, with the name its room has for the reader (a direct room: the other person's). */
export interface SearchHit {
  message: MessageWithAuthor;
  roomName: string;
}

/** A unique constraint refused a write; `field` names which one. */
export class ConflictError extends Error {
  constructor(readonly field: "username" | "email" | "name") {
    super(`${field} already exists`);
    this.name = "ConflictError";
  }
}

/** A change refused because it would leave no active admin. */
export class LastAdminError extends Error {
  constructor() {
    super("the last active admin cannot stop being one");
    this.name = "LastAdminError";
  }
}

/** A foreign key refused a write: the room or user it points at is gone. */
export class MissingReferenceError extends Error {
  constructor() {
    super("referenced row does not exist");
    this.name = "MissingReferenceError";
  }
}

export interface Store {
  readonly dialect: "sqlite" | "postgres";

  countUsers(): Promise<number>;
  /** Whether an active admin exists (the browser's first sign-up and the start-up log ask). */
  hasAdmin(): Promise<boolean>;
  /** Throws ConflictError("username" | "email"): both are unique whatever their case. */
  createUser(user: NewUser): Promise<UserRecord>;
  /**
   * Creates `user` (an admin) only if no admin exists, atomically: of concurrent calls on an adminless database
   * exactly one succeeds. Undefined when an admin exists. Throws as createUser.
   */
  createFirstAdmin(user: NewUser): Promise<UserRecord | undefined>;
  findUserById(id: number): Promise<UserRecord | undefined>;
  /**
   * Ignoring case; an exact match comes first (accounts that were case twins before each keep their own). Deleted
   * accounts have no name to be found by.
   */
  findUserByUsername(username: string): Promise<UserRecord | undefined>;
  /** Ignoring case, as findUserByUsername. */
  findUserByEmail(email: string): Promise<UserRecord | undefined>;
  /** Every account but the deleted ones. */
  listUsers(): Promise<UserRecord[]>;
  /**
   * Applies the change in one write (see AccountChange). Undefined for no such account, or a deleted one. Throws
   * LastAdminError when it would leave no active admin; of concurrent such changes to the last two, one succeeds.
   */
  updateAccount(id: number, change: AccountChange): Promise<UserRecord | undefined>;
  /** updateAccount(id, { role }). */
  setUserRole(id: number, role: Role): Promise<UserRecord | undefined>;
  bumpTokenVersion(id: number): Promise<UserRecord | undefined>;
  /** Deletes the user and their messages; false when there was no such user. Their tokens stop working. */
  deleteUser(id: number): Promise<boolean>;

  /** Stores a refresh token, and drops the user's expired ones. */
  insertRefreshToken(token: NewRefreshToken): Promise<void>;
  findRefreshToken(hash: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * Atomically spends the token `hash` (if unspent and unexpired at `at`) and stores `next` in its family; false
   * when it was not spendable (another refresh spent it first, or it was revoked meanwhile).
   */
  rotateRefreshToken(hash: string, next: NewRefreshToken, at: Date): Promise<boolean>;
  /** Revokes every refresh token of a family (they stay, expired, so that a refresh can still name their account). */
  revokeRefreshFamily(familyId: string): Promise<void>;

  /** Throws ConflictError("name") for a public name that is taken (private names need not be unique). */
  createRoom(room: NewRoom): Promise<RoomRecord>;
  /** Every room of every kind. */
  listRooms(): Promise<RoomRecord[]>;
  /**
   * Rooms with their member counts and the reader's role, by id: the public ones and those `readerId` belongs to
   * (every room with `all`), only `roomId` when given.
   */
  listRoomListings(filter: { readerId: number; all?: boolean; roomId?: number }): Promise<RoomListing[]>;
  findRoom(id: number): Promise<RoomRecord | undefined>;
  /** Deletes the room and its messages; false when there was no such room. */
  deleteRoom(id: number): Promise<boolean>;
  /** The direct room of two different users, made with both as members if it did not exist; one per pair, always. */
  openDirectRoom(userIds: [number, number], createdAt: Date): Promise<{ room: RoomRecord; created: boolean }>;

  findMemberRole(roomId: number, userId: number): Promise<MemberRole | undefined>;
  /** Oldest member first. */
  listMembers(roomId: number): Promise<MemberRecord[]>;
  /** Adds a member (role "member"); one already there is returned as it is, with `created: false`. */
  addMember(roomId: number, userId: number, joinedAt: Date): Promise<{ member: MemberRecord; created: boolean }>;
  /**
   * Moves the user's read position in the room forward to `messageId` (never past the room's newest message;
   * never back). The position after the call, and whether it moved; null in a room without messages.
   */
  setReadPosition(userId: number, roomId: number, messageId: number, at: Date): Promise<{ position: number | null; moved: boolean }>;
  /**
   * Each room's activity for the user. `countFromStart`: rooms where no position means "nothing read" (the private
   * and direct rooms they belong to); elsewhere no position means nothing is counted.
   */
  roomActivity(userId: number, rooms: readonly { id: number; countFromStart: boolean }[]): Promise<Map<number, RoomActivity>>;
  /**
   * Atomically: removes the member (and their read position), hands ownership on, or deletes the room (with its
   * messages) when no member is left.
   */
  removeMember(roomId: number, userId: number): Promise<MemberRemoval>;

  /**
   * Stores a batch in one transaction and returns one result per input, in input order.
   * An input whose (roomId, userId, clientId) is already stored (a resend) returns the stored record with
   * `duplicate: true` and writes nothing. Throws MissingReferenceError if any room or user is gone
   * (then nothing of the batch is stored).
   */
  insertMessages(batch: readonly NewMessage[]): Promise<StoredMessage[]>;
  listMessages(roomId: number, query: HistoryQuery): Promise<MessageWithAuthor[]>;
  /**
   * The same page as listMessages, already rendered by the database as the HTTP history JSON (an array of
   * toMessageJson items) and the number of items: the hot read path does no per-row work in JavaScript.
   */
  listMessagesJson(roomId: number, query: HistoryQuery): Promise<{ json: string; count: number }>;
  findMessage(id: number): Promise<MessageRecord | undefined>;
  /** The messages that still exist among `ids`, with authors, in id order. */
  findMessagesByIds(ids: readonly number[]): Promise<MessageWithAuthor[]>;
  updateMessage(id: number, content: string, editedAt: Date): Promise<MessageRecord | undefined>;
  deleteMessage(id: number): Promise<boolean>;
  /**
   * Messages matching every term in rooms the reader may read, newest first. A message is found as soon as
   * insertMessages (or importRecords) has returned, an edited one by its new words only, a deleted one never.
   */
  searchMessages(query: SearchQuery): Promise<SearchHit[]>;
  /**
   * Edits and deletes since `since`, oldest first (PostgreSQL keeps them an hour). Only a store that several
   * instances share has it: an instance whose bus listener was away catches up on them.
   */
  changesSince?(since: Date): Promise<MessageChange[]>;

  /**
   * Writes an import in one transaction: users, rooms, then messages in input order (their ids follow it).
   * A message whose (room, user, clientId) is already stored is left alone, so repeating an import stores nothing twice.
   * Any error (ConflictError, MissingReferenceError, ...) rolls all of it back; so does `dryRun`, after counting.
   * `onProgress` is told how many messages are done, now and then.
   */
  importRecords(batch: ImportBatch, options?: { dryRun?: boolean; onProgress?: (messagesDone: number) => void }): Promise<ImportResult>;

  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  /** True when the database records every migration this program embeds (or a newer one). */
  migrationsApplied(): Promise<boolean>;
  close(): Promise<void>;
}

/** Errors that mean "the database cannot be reached right now" (connection lost, store closed), not a bug. */
export function isStoreUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  const cause = (error as { cause?: unknown })?.cause;
  if (typeof code === "string" && /^(CONNECTION_|CONNECT_TIMEOUT|ECONNREFUSED|ECONNRESET|57P0)/.test(code)) return true;
  if (/closed database|database (is|has) closed/i.test(String((error as Error)?.message ?? ""))) return true;
  return cause !== undefined && cause !== error && isStoreUnavailable(cause);
}
