// The records the Store speaks in: accounts, tokens, rooms, members, messages, imports and searches.

export type Role = "admin" | "user";
/** Disabled: cannot log in, refresh or use a token. Deleted: the row stays, anonymised, as its messages' author. */
export type AccountStatus = "active" | "disabled" | "deleted";

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
 * row: username DELETED_USERNAME (account-rules.ts), email `~deleted~<id>`, an unusable password hash, role "user".
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
