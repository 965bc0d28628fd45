// The Store interface: everything the services need from a database, in domain terms. The records and errors it
// speaks in (records.ts, errors.ts) and the account rules (account-rules.ts) are exported from here too, so that
// the rest of the program imports one module.
import type {
  AccountChange,
  HistoryQuery,
  ImportBatch,
  ImportResult,
  MemberRecord,
  MemberRemoval,
  MemberRole,
  MessageChange,
  MessageRecord,
  MessageWithAuthor,
  NewMessage,
  NewRefreshToken,
  NewRoom,
  NewUser,
  RefreshTokenRecord,
  Role,
  RoomActivity,
  RoomListing,
  RoomRecord,
  SearchHit,
  SearchQuery,
  StoredMessage,
  UserRecord,
} from "./records.ts";

export * from "./account-rules.ts";
export * from "./errors.ts";
export * from "./records.ts";

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
  setReadPosition(
    userId: number,
    roomId: number,
    messageId: number,
    at: Date,
  ): Promise<{ position: number | null; moved: boolean }>;
  /**
   * Each room's activity for the user. `countFromStart`: rooms where no position means "nothing read" (the private
   * and direct rooms they belong to); elsewhere no position means nothing is counted.
   */
  roomActivity(
    userId: number,
    rooms: readonly { id: number; countFromStart: boolean }[],
  ): Promise<Map<number, RoomActivity>>;
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
  /** The highest message id stored, in any room (0 when there is none). */
  newestMessageId(): Promise<number>;
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
  importRecords(
    batch: ImportBatch,
    options?: { dryRun?: boolean; onProgress?: (messagesDone: number) => void },
  ): Promise<ImportResult>;

  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  /** True when the database records every migration this program embeds (or a newer one). */
  migrationsApplied(): Promise<boolean>;
  close(): Promise<void>;
}

// The Store's parts, each implemented by a file of the same name in sqlite/ and postgres/.
export type AccountQueries = Pick<
  Store,
  | "countUsers"
  | "hasAdmin"
  | "createUser"
  | "createFirstAdmin"
  | "findUserById"
  | "findUserByUsername"
  | "findUserByEmail"
  | "listUsers"
  | "updateAccount"
  | "setUserRole"
  | "bumpTokenVersion"
  | "deleteUser"
>;
export type MessageQueries = Pick<
  Store,
  | "listMessages"
  | "listMessagesJson"
  | "findMessage"
  | "findMessagesByIds"
  | "newestMessageId"
  | "updateMessage"
  | "deleteMessage"
>;
export type ReadPositionQueries = Pick<Store, "setReadPosition" | "roomActivity">;
export type RefreshTokenQueries = Pick<
  Store,
  "insertRefreshToken" | "findRefreshToken" | "rotateRefreshToken" | "revokeRefreshFamily"
>;
export type RoomQueries = Pick<
  Store,
  | "createRoom"
  | "listRooms"
  | "listRoomListings"
  | "openDirectRoom"
  | "findRoom"
  | "deleteRoom"
  | "findMemberRole"
  | "listMembers"
  | "addMember"
  | "removeMember"
>;
