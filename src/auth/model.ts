// Request and response schemas for accounts, and the user's JSON shape (the seed's).
import { t } from "elysia";
import { requestObject, responseObject } from "../schemas.ts";
import type { UserRecord } from "../store/store.ts";
import { REFRESH_LIMITS } from "./refresh.ts";

export const LIMITS = {
  usernameMin: 3,
  usernameMax: 32,
  passwordMin: 8,
  passwordMax: 128,
  emailMax: 254,
} as const;

export const Role = t.Union([t.Literal("admin"), t.Literal("user")]);

export const Username = t.String({
  minLength: LIMITS.usernameMin,
  maxLength: LIMITS.usernameMax,
  // `.` and `-` only inside, so that `alice.` is not a second alice.
  pattern: "^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$",
  description:
    "3-32 characters: letters, digits, `_`, `.` and `-`, starting and ending with a letter, digit or `_`; unique whatever the case",
});

export const Password = t.String({ minLength: LIMITS.passwordMin, maxLength: LIMITS.passwordMax });

export const SignupBody = requestObject({
  username: Username,
  email: t.String({ format: "email", maxLength: LIMITS.emailMax }),
  password: Password,
  role: t.Optional(Role),
});

export const LoginBody = requestObject({
  username: t.String({ minLength: 1, maxLength: LIMITS.usernameMax }),
  password: t.String({ minLength: 1, maxLength: LIMITS.passwordMax }),
});

export const TokenResponse = responseObject({
  access_token: t.String({ description: "HS256 JWT for `Authorization: Bearer` and the sockets" }),
  token_type: t.Literal("bearer"),
  expires_in: t.Integer({ description: "Seconds the access token lives" }),
  refresh_token: t.String({
    description: "Single use: POST /auth/refresh spends it for a new pair. Lives 30 days from its issue.",
  }),
});

export const RefreshBody = requestObject({
  refresh_token: t.String({ minLength: 1, maxLength: REFRESH_LIMITS.maxLength }),
});

export const PasswordChangeBody = requestObject({
  current_password: t.String({ minLength: 1, maxLength: LIMITS.passwordMax }),
  new_password: Password,
});

export const AccountDeletionBody = requestObject({
  password: t.String({ minLength: 1, maxLength: LIMITS.passwordMax }),
});

export const UserResponse = responseObject({
  id: t.Integer(),
  username: t.String(),
  email: t.String(),
  role: Role,
  created_at: t.String({ format: "date-time" }),
});

export const SetupResponse = responseObject({
  admin_exists: t.Boolean({
    description: 'false until someone holds the admin role; until then `"role": "admin"` sign-ups are allowed',
  }),
});

/** What an admin sees of an account: the user object and whether it is disabled. */
export const AdminUserResponse = t.Composite([UserResponse, responseObject({ disabled: t.Boolean() })]);

export const UserChangeBody = requestObject(
  { role: t.Optional(Role), disabled: t.Optional(t.Boolean()) },
  { minProperties: 1, description: "At least one of role and disabled" },
);

export const RoleChangeBody = requestObject({ role: Role });

export const Detail = responseObject({ detail: t.String(), code: t.Optional(t.String()) });

export function toUserJson(user: UserRecord) {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    role: user.role,
    created_at: user.createdAt.toISOString(),
  };
}

export function toAdminUserJson(user: UserRecord) {
  return { ...toUserJson(user), disabled: user.status === "disabled" };
}
