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

export function authGuard(auth: AuthService) {
  const requireUser = async (header: string | undefined): Promise<UserRecord> => {
    const token = bearerToken(header);
    if (!token) throw new AppError("NOT_AUTHENTICATED");
    return auth.authenticate(token);
  };
  return new Elysia({ name: "auth-guard", seed: auth }).macro({
    auth: {
      detail: { security: [{ bearer: [] }] },
      async resolve({ headers }) {
        return { user: await requireUser(headers.authorization) };
      },
    },
    admin: {
      detail: { security: [{ bearer: [] }] },
      async resolve({ headers }) {
        const user = await requireUser(headers.authorization);
        if (user.role !== "admin") throw new AppError("FORBIDDEN");
        return { user };
      },
    },
  });
}
