// HTTP routes for accounts (/auth) and their administration (/users).
import { Elysia, t } from "elysia";
import { IdParams } from "../ids.ts";
import { authGuard, bearerToken } from "./guard.ts";
import { Detail, LoginBody, RoleChangeBody, SignupBody, TokenResponse, UserResponse, toUserJson } from "./model.ts";
import type { AuthService } from "./service.ts";

export function authRoutes(auth: AuthService) {
  return new Elysia({ name: "auth-routes", seed: auth })
    .use(authGuard(auth))
    .post(
      "/auth/signup",
      async ({ body, headers, set }) => {
        // A bearer token is only consulted when it matters: to create an admin after the first account.
        const token = body.role === "admin" ? bearerToken(headers.authorization) : undefined;
        const actor = token ? await auth.authenticate(token, true) : undefined;
        const user = await auth.signup(body, actor);
        set.status = 201;
        return toUserJson(user);
      },
      {
        body: SignupBody,
        response: { 201: UserResponse, 400: Detail, 403: Detail },
        detail: {
          tags: ["auth"],
          summary: "Create an account",
          description:
            'Anyone may sign up as "user". `"role": "admin"` is allowed for the first account of an empty database, ' +
            "and afterwards only with an admin's bearer token.",
        },
      },
    )
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
        response: { 200: UserResponse, 401: Detail, 403: Detail, 404: Detail },
        detail: { tags: ["users"], summary: "Change a user's role (admin); their earlier tokens stop working" },
      },
    );
}
