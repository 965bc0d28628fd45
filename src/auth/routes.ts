// HTTP routes for accounts (/auth) and their administration (/users).
import { Elysia, t } from "elysia";
import { IdParams } from "../ids.ts";
import { assertStorableText } from "../messages/model.ts";
import { authGuard, bearerToken } from "./guard.ts";
import {
  AccountDeletionBody,
  AdminUserResponse,
  Detail,
  LoginBody,
  PasswordChangeBody,
  RefreshBody,
  SetupResponse,
  SignupBody,
  TokenResponse,
  UserChangeBody,
  UserResponse,
  toAdminUserJson,
  toUserJson,
} from "./model.ts";
import type { AuthService } from "./service.ts";

/** The client's address for the login throttle. No X-Forwarded-For: trusting it would let any caller pick its own. */
const clientAddress = (request: Request, server: { requestIP(request: Request): { address: string } | null } | null) =>
  server?.requestIP(request)?.address;

export function authRoutes(auth: AuthService) {
  return new Elysia({ name: "auth-routes", seed: auth })
    .use(authGuard(auth))
    .post(
      "/auth/signup",
      async ({ body, headers, request, server, set }) => {
        // Bcrypt reads UTF-8, which would turn a lone surrogate into U+FFFD: refused rather than changed. Login
        // does not check, so an account made before this rule still logs in with what its client sends.
        assertStorableText(body.password, "password");
        // A bearer token is only consulted when it matters: to create an admin after the first account.
        const token = body.role === "admin" ? bearerToken(headers.authorization) : undefined;
        const actor = token ? await auth.authenticate(token, true) : undefined;
        const user = await auth.signup(body, actor, server?.requestIP(request)?.address);
        set.status = 201;
        return toUserJson(user);
      },
      {
        body: SignupBody,
        response: { 201: UserResponse, 400: Detail, 403: Detail, 422: t.Any(), 429: Detail, 503: Detail },
        detail: {
          tags: ["auth"],
          summary: "Create an account",
          description:
            'Anyone may sign up as "user". `"role": "admin"` is allowed while the database has no admin (one of ' +
            "concurrent such signups wins, the others get 403), and afterwards only with an admin's bearer token (see `GET /auth/setup`). " +
            "Usernames and emails are unique whatever their case, and kept as typed. Limited per client address " +
            "(429 `RATE_LIMITED`); when too many signups wait for a password hash, 503 `SIGNUP_BUSY`. Both with Retry-After.",
        },
      },
    )
    .get("/auth/setup", async () => ({ admin_exists: await auth.adminExists() }), {
      response: { 200: SetupResponse },
      detail: {
        tags: ["auth"],
        summary: "Whether an admin exists yet",
        description:
          'While `admin_exists` is false, anyone may sign up with `"role": "admin"`: the browser client offers it.',
      },
    })
    .post(
      "/auth/login",
      ({ body, request, server }) => auth.login(body.username, body.password, clientAddress(request, server)),
      {
        body: LoginBody,
        response: { 200: TokenResponse, 401: Detail, 403: Detail, 429: Detail },
        detail: {
          tags: ["auth"],
          summary: "Log in: an access token and a refresh token (JSON body, as the seed)",
          description:
            "`access_token` and `token_type` are the seed's; `expires_in` (seconds) and `refresh_token` are added. " +
            "A disabled account gets 403 `ACCOUNT_DISABLED`, and only with its right password.",
        },
      },
    )
    .post("/auth/refresh", ({ body }) => auth.refresh(body.refresh_token), {
      body: RefreshBody,
      response: { 200: TokenResponse, 401: Detail, 403: Detail },
      detail: {
        tags: ["auth"],
        summary: "Spend a refresh token for a new pair",
        description:
          "The refresh token is single use. Presenting a spent one again revokes its whole family (every token " +
          "refreshed from the same login) and every access token of the account: 401 `REFRESH_TOKEN_REUSED`. " +
          "Within 10 seconds of its use (two tabs refreshing at once) it is only refused: 401 " +
          "`REFRESH_TOKEN_SPENT`. Unknown, expired (30 days after its issue) or revoked: 401 `INVALID_REFRESH_TOKEN`. " +
          "A disabled or deleted account: 403 `ACCOUNT_DISABLED`.",
      },
    })
    .get("/auth/me", ({ user }) => toUserJson(user), {
      auth: true,
      response: { 200: UserResponse, 401: Detail },
      detail: { tags: ["auth"], summary: "The current user" },
    })
    .delete(
      "/auth/me",
      async ({ user, body, request, server, set }) => {
        await auth.deleteOwnAccount(user, body.password, clientAddress(request, server));
        set.status = 204;
      },
      {
        auth: true,
        body: AccountDeletionBody,
        response: { 204: t.Void(), 401: Detail, 409: Detail, 422: t.Any(), 429: Detail },
        detail: {
          tags: ["auth"],
          summary: "Delete one's own account, given its password",
          description:
            "Tokens stop and sockets close (1008); the username and email are free again. Messages stay, their " +
            'author shown as `"deleted user"`; private rooms pass to their longest-standing member; direct rooms ' +
            "stay for the other person. A wrong password is 401 and counts as a failed login. The last active " +
            "admin cannot leave: 409 `LAST_ADMIN`.",
        },
      },
    )
    .post(
      "/auth/logout",
      async ({ user, set }) => {
        await auth.logout(user);
        set.status = 204;
      },
      {
        auth: true,
        detail: { tags: ["auth"], summary: "Revoke every token and refresh token issued to the current user so far" },
      },
    )
    .post(
      "/auth/password",
      async ({ user, body, request, server }) => {
        assertStorableText(body.new_password, "new_password");
        return auth.changePassword(user, body.current_password, body.new_password, clientAddress(request, server));
      },
      {
        auth: true,
        body: PasswordChangeBody,
        response: { 200: TokenResponse, 401: Detail, 422: t.Any(), 429: Detail },
        detail: {
          tags: ["auth"],
          summary: "Change one's password: a fresh pair for the caller",
          description:
            "Every other token and refresh token of the account stops and its sockets close with 1008, on every " +
            "instance. A wrong current password is 401 and counts as a failed login (429 past the limits).",
        },
      },
    )
    .get("/users", async () => (await auth.listUsers()).map(toAdminUserJson), {
      admin: true,
      response: { 200: t.Array(AdminUserResponse), 401: Detail, 403: Detail },
      detail: { tags: ["users"], summary: "List users (admin); deleted accounts are not listed" },
    })
    .patch("/users/:id", async ({ params, body }) => toAdminUserJson(await auth.updateUser(params.id, body)), {
      admin: true,
      params: IdParams,
      body: UserChangeBody,
      response: { 200: AdminUserResponse, 401: Detail, 403: Detail, 404: Detail, 409: Detail },
      detail: {
        tags: ["users"],
        summary: "Change a user's role or disable them (admin); their earlier tokens stop working",
        description:
          "`disabled: true` shuts the account out: it cannot log in or refresh (403 `ACCOUNT_DISABLED`), its tokens " +
          "and refresh tokens stop and its sockets close with 1008 everywhere; `false` lets it log in again. " +
          "Demoting or disabling the last active admin is refused with 409 `LAST_ADMIN`.",
      },
    })
    .delete(
      "/users/:id",
      async ({ params, set }) => {
        await auth.deleteAccount(params.id);
        set.status = 204;
      },
      {
        admin: true,
        params: IdParams,
        response: { 204: t.Void(), 401: Detail, 403: Detail, 404: Detail, 409: Detail },
        detail: {
          tags: ["users"],
          summary: "Delete an account (admin), as DELETE /auth/me does",
          description: "Deleting the last active admin is refused with 409 `LAST_ADMIN`.",
        },
      },
    );
}
