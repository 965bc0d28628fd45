// One error type for the whole app: a stable code, an HTTP status, and the seed's `detail` text.

export const ERRORS = {
  NOT_AUTHENTICATED: [401, "Not authenticated"],
  INVALID_TOKEN: [401, "Could not validate credentials"],
  BAD_CREDENTIALS: [401, "Incorrect username or password"],
  INVALID_REFRESH_TOKEN: [401, "Refresh token is not valid: log in again"],
  ACCOUNT_DISABLED: [403, "This account is disabled"],
  FORBIDDEN: [403, "Not enough permissions"],
  ADMIN_SIGNUP_FORBIDDEN: [403, "Only an admin can create an admin account"],
  LAST_ADMIN: [409, "The last active admin cannot stop being one, be disabled or be deleted: make another admin first"],
  USERNAME_TAKEN: [400, "Username already registered"],
  EMAIL_TAKEN: [400, "Email already registered"],
  ROOM_NAME_TAKEN: [400, "Room name already exists"],
  ROOM_NOT_FOUND: [404, "Room not found"],
  USER_NOT_FOUND: [404, "User not found"],
  MEMBER_NOT_FOUND: [404, "Not a member of this room"],
  ROOM_IS_PUBLIC: [409, "A public room has no members to change"],
  ROOM_IS_DIRECT: [409, "A direct room keeps its two people"],
  DIRECT_WITH_SELF: [422, "A direct room needs another person"],
  MESSAGE_NOT_FOUND: [404, "Message not found"],
  NOT_FOUND: [404, "Not Found"],
  CONTENT_EMPTY: [422, "Message content must not be empty"],
  CONTENT_TOO_LONG: [422, "Message content is too long"],
  TEXT_NOT_STORABLE: [422, "Text contains a NUL character or an unpaired surrogate"],
  NOT_AUTHOR: [403, "Only the author can do this"],
  QUERY_TOO_SHORT: [422, "A search needs at least 2 letters or digits to look for"],
  QUERY_TOO_LONG: [422, "The search query is too long"],
  CURSOR_CONFLICT: [422, "Use at most one of before, after and skip"],
  INVALID_BODY: [422, "Request body is not valid JSON"],
  BODY_TOO_LARGE: [413, "Request body too large"],
  BODY_INCOMPLETE: [400, "Request body is malformed or ended early"],
  RATE_LIMITED: [429, "Too many requests"],
  TOO_MANY_SOCKETS: [429, "Too many open sockets for this user"],
  SIGNUP_BUSY: [503, "Too many signups at once; try again shortly"],
  STORE_UNAVAILABLE: [503, "Database unavailable"],
  UPGRADE_REQUIRED: [426, "This is a WebSocket endpoint: connect with an Upgrade request"],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRORS;

export interface AppErrorOptions {
  detail?: string;
  headers?: Record<string, string>;
  /** A finer reason than the code, e.g. TOKEN_EXPIRED under INVALID_TOKEN; clients see it as `code`. */
  reason?: string;
}

export class AppError extends Error {
  readonly status: number;
  readonly headers: Record<string, string> | undefined;
  readonly reason: string;
  constructor(
    readonly code: ErrorCode,
    options: AppErrorOptions = {},
  ) {
    super(options.detail ?? ERRORS[code][1]);
    this.name = "AppError";
    this.status = ERRORS[code][0];
    this.headers = options.headers;
    this.reason = options.reason ?? code;
  }

  toJSON() {
    return { detail: this.message, code: this.reason };
  }
}
