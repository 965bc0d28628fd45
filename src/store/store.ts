// The Store interface: everything the services need from a database, in domain terms.

export type Role = "admin" | "user";

export interface UserRecord {
  id: number;
  username: string;
  email: string;
  passwordHash: string;
  role: Role;
  /** Bumped on logout and role change; tokens carrying an older version are refused. */
  tokenVersion: number;
  createdAt: Date;
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
export interface MessageWithAuthor extends MessageRecord {
  author: UserRecord;
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

/** A role change refused because it would leave no admin. */
export class LastAdminError extends Error {
  constructor() {
    super("the last admin cannot stop being one");
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
  hasAdmin(): Promise<boolean>;
  /** Throws ConflictError("username" | "email"): both are unique whatever their case. */
  createUser(user: NewUser): Promise<UserRecord>;
  /**
   * Creates `user` (an admin) only if no admin exists, atomically: of concurrent calls on an adminless database
   * exactly one succeeds. Undefined when an admin exists. Throws as createUser.
   */
  createFirstAdmin(user: NewUser): Promise<UserRecord | undefined>;
  findUserById(id: number): Promise<UserRecord | undefined>;
  /** Ignoring case; an exact match comes first (accounts that were case twins before each keep their own). */
  findUserByUsername(username: string): Promise<UserRecord | undefined>;
  /** Ignoring case, as findUserByUsername. */
  findUserByEmail(email: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  /**
   * Sets the role and bumps the token version in one write. Throws LastAdminError when it would demote the last
   * admin; concurrent demotions of the last two admins leave one.
   */
  setUserRole(id: number, role: Role): Promise<UserRecord | undefined>;
  bumpTokenVersion(id: number): Promise<UserRecord | undefined>;
  /** Deletes the user and their messages; false when there was no such user. Their tokens stop working. */
  deleteUser(id: number): Promise<boolean>;

  /** Throws ConflictError("name") for a public name that is taken (private names need not be unique). */
  createRoom(room: NewRoom): Promise<RoomRecord>;
  /** Every room of every kind. */
  listRooms(): Promise<RoomRecord[]>;
  /**
   * Rooms with their member counts, by id: the public ones and those `readerId` belongs to (every room when it is
   * undefined), only `roomId` when given.
   */
  listRoomListings(filter: { readerId?: number; roomId?: number }): Promise<RoomListing[]>;
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
