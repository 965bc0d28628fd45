// HTTP routes for accounts (/auth) and their administration (/users).
import { Elysia, t } from "elysia";
import { IdParams } from "../ids.ts";
import { assertStorableText } from "../messages/model.ts";
import { authGuard, bearerToken } from "./guard.ts";
import { Detail, LoginBody, RoleChangeBody, SetupResponse, SignupBody, TokenResponse, UserResponse, toUserJson } from "./model.ts";
import type { AuthService } from "./service.ts";

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
        const actor = token ? await auth.authenticate(token) : undefined;
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
        description: 'While `admin_exists` is false, anyone may sign up with `"role": "admin"`: the browser client offers it.',
      },
    })
    .post(
      "/auth/login",
      async ({ body, request, server }) => ({
        // No X-Forwarded-For: trusting it would let any caller pick its own address and dodge the limit.
        access_token: await auth.login(body.username, body.password, server?.requestIP(request)?.address),
        token_type: "bearer" as const,
      }),
      {
        body: LoginBody,
        response: { 200: TokenResponse, 401: Detail, 429: Detail },
        detail: { tags: ["auth"], summary: "Log in and get a bearer token (JSON body, as the seed)" },
      },
    )
    .get("/auth/me", ({ user }) => toUserJson(user), {
      auth: true,
      response: { 200: UserResponse, 401: Detail },
      detail: { tags: ["auth"], summary: "The current user" },
    })
    .post(
      "/auth/logout",
      async ({ user, set }) => {
        await auth.logout(user);
        set.status = 204;
      },
      {
        auth: true,
        detail: { tags: ["auth"], summary: "Revoke every token issued to the current user so far" },
      },
    )
    .get("/users", async () => (await auth.listUsers()).map(toUserJson), {
      admin: true,
      response: { 200: t.Array(UserResponse), 401: Detail, 403: Detail },
      detail: { tags: ["users"], summary: "List users (admin)" },
    })
    .patch(
      "/users/:id",
      async ({ params, body }) => toUserJson(await auth.setRole(params.id, body.role)),
      {
        admin: true,
        params: IdParams,
        body: RoleChangeBody,
        response: { 200: UserResponse, 401: Detail, 403: Detail, 404: Detail, 409: Detail },
        detail: {
          tags: ["users"],
          summary: "Change a user's role (admin); their earlier tokens stop working",
          description: "Demoting the last admin is refused with 409 `LAST_ADMIN`.",
        },
      },
    );
}
