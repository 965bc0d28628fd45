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

export interface NewMessage {
  roomId: number;
  userId: number;
  content: string;
  clientId: string | null;
  createdAt: Date;
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
  /** Throws ConflictError("username" | "email"). */
  createUser(user: NewUser): Promise<UserRecord>;
  findUserById(id: number): Promise<UserRecord | undefined>;
  findUserByUsername(username: string): Promise<UserRecord | undefined>;
  findUserByEmail(email: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  /** Sets the role and bumps the token version in one write. */
  setUserRole(id: number, role: Role): Promise<UserRecord | undefined>;
  bumpTokenVersion(id: number): Promise<UserRecord | undefined>;

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
  findMessage(id: number): Promise<MessageRecord | undefined>;
  updateMessage(id: number, content: string, editedAt: Date): Promise<MessageRecord | undefined>;
  deleteMessage(id: number): Promise<boolean>;

  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
