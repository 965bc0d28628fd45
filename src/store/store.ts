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

export interface RoomRecord {
  id: number;
  name: string;
  description: string | null;
  createdAt: Date;
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
  /** Messages stored; the others were stored by an earlier import (same user and clientId). */
  messagesStored: number;
}

/** One page of a room's history. `before`/`after` are message ids; without either, `skip` offsets from the newest. */
export type HistoryQuery =
  | { limit: number; before: number }
  | { limit: number; after: number }
  | { limit: number; skip: number };

/** A unique constraint refused a write; `field` names which one. */
export class ConflictError extends Error {
  constructor(readonly field: "username" | "email" | "name") {
    super(`${field} already exists`);
    this.name = "ConflictError";
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
  /** Whether any account has the admin role (the browser's first sign-up and the start-up log ask). */
  hasAdmin(): Promise<boolean>;
  /** Throws ConflictError("username" | "email"). */
  createUser(user: NewUser): Promise<UserRecord>;
  findUserById(id: number): Promise<UserRecord | undefined>;
  findUserByUsername(username: string): Promise<UserRecord | undefined>;
  findUserByEmail(email: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  /** Sets the role and bumps the token version in one write. */
  setUserRole(id: number, role: Role): Promise<UserRecord | undefined>;
  bumpTokenVersion(id: number): Promise<UserRecord | undefined>;
  /** Deletes the user and their messages; false when there was no such user. Their tokens stop working. */
  deleteUser(id: number): Promise<boolean>;

  /** Throws ConflictError("name"). */
  createRoom(room: { name: string; description: string | null; createdAt: Date }): Promise<RoomRecord>;
  listRooms(): Promise<RoomRecord[]>;
  findRoom(id: number): Promise<RoomRecord | undefined>;
  /** Deletes the room and its messages; false when there was no such room. */
  deleteRoom(id: number): Promise<boolean>;

  /**
   * Stores a batch in one transaction and returns one result per input, in input order.
   * An input whose (userId, clientId) is already stored (a resend) returns the stored record with
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
   * Edits and deletes since `since`, oldest first (PostgreSQL keeps them an hour). Only a store that several
   * instances share has it: an instance whose bus listener was away catches up on them.
   */
  changesSince?(since: Date): Promise<MessageChange[]>;

  /**
   * Writes an import in one transaction: users, rooms, then messages in input order (their ids follow it).
   * A message whose (user, clientId) is already stored is left alone, so repeating an import stores nothing twice.
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
