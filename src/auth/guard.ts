// The bearer-token guard as Elysia macros: `{ auth: true }` resolves `user`, `{ admin: true }` also requires the admin role.
import { Elysia } from "elysia";
import { AppError } from "../errors.ts";
import type { UserRecord } from "../store/store.ts";
import type { AuthService } from "./service.ts";

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Reads may trust the user cache; anything else checks the token version in the database (see authenticateSession). */
const READS = new Set(["GET", "HEAD"]);

export function authGuard(auth: AuthService) {
  const requireUser = async (header: string | undefined, fresh: boolean): Promise<UserRecord> => {
    const token = bearerToken(header);
    if (!token) throw new AppError("NOT_AUTHENTICATED");
    return auth.authenticate(token, fresh);
  };
  return new Elysia({ name: "auth-guard", seed: auth }).macro({
    auth: {
      detail: { security: [{ bearer: [] }] },
      async resolve({ headers, request }) {
        return { user: await requireUser(headers.authorization, !READS.has(request.method)) };
      },
    },
    admin: {
      detail: { security: [{ bearer: [] }] },
      async resolve({ headers }) {
        // Admin reads too: what only an admin may see must stop at once for a demoted one.
        const user = await requireUser(headers.authorization, true);
        if (user.role !== "admin") throw new AppError("FORBIDDEN");
        return { user };
      },
    },
  });
}
