// Cross-cutting HTTP behaviour: the seed's error bodies ({"detail": ...}, 422 lists) and CORS.
import { Elysia, type ValidationError } from "elysia";
import { unreadableBody } from "./body-limit.ts";
import { AppError } from "./errors.ts";
import { loggedPath } from "./ops/routes.ts";
import { isStoreUnavailable } from "./store/store.ts";
import { validationSentence } from "./validation-message.ts";

interface ValidationItem {
  loc: (string | number)[];
  msg: string;
  type: string;
}

function validationDetail(error: Readonly<ValidationError>): ValidationItem[] {
  const where = error.type === "params" ? "path" : error.type;
  const items = error.all.map((issue) => {
    const path = "path" in issue && typeof issue.path === "string" ? issue.path.split("/").filter(Boolean) : [];
    const { schema, value } = issue as { schema?: unknown; value?: unknown };
    const said =
      "summary" in issue && issue.summary
        ? issue.summary
        : ((issue as { message?: string }).message ?? "invalid value");
    const field = [...path].reverse().find((part) => !/^\d+$/.test(part));
    return { loc: [where, ...path], msg: validationSentence(where, field, schema, value, said), type: "value_error" };
  });
  // One failure per field: a blank name breaks its length and its pattern, and says so once.
  const seen = new Set<string>();
  const unique = items.filter((item) => {
    const key = JSON.stringify([item.loc, item.msg]);
    return !seen.has(key) && seen.add(key);
  });
  return unique.length > 0 ? unique : [{ loc: [where], msg: error.message, type: "value_error" }];
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

export function errorHandling(log: (line: Record<string, unknown>) => void) {
  return new Elysia({ name: "error-handling" }).onError({ as: "global" }, ({ code, error, request, set }) => {
    const response = respond();
    // The request log and metrics read the status from `set`, which returning a Response does not update.
    set.status = response.status;
    return response;

    function respond(): Response {
      if (error instanceof AppError) return respondTo(error);
      switch (code) {
        case "VALIDATION":
          return json(422, { detail: validationDetail(error), code: "VALIDATION_FAILED" });
        case "PARSE": {
          // Elysia reads the body while parsing: a body that could not be read is not a JSON mistake.
          const unreadable = unreadableBody(error.cause);
          if (unreadable) return respondTo(unreadable);
          return json(422, {
            detail: [{ loc: ["body"], msg: "Request body is not valid JSON", type: "json_invalid" }],
            code: "INVALID_BODY",
          });
        }
        case "NOT_FOUND":
          return json(404, { detail: "Not Found", code: "NOT_FOUND" });
        case "INVALID_COOKIE_SIGNATURE":
          return json(400, { detail: "Invalid cookie signature", code: "INVALID_COOKIE" });
      }
      if (isStoreUnavailable(error)) {
        return json(
          503,
          { detail: "Database unavailable; try again shortly", code: "STORE_UNAVAILABLE" },
          { "retry-after": "1" },
        );
      }
      log({
        level: "error",
        msg: "unhandled error",
        method: request.method,
        path: loggedPath(request.url),
        error: String((error as Error)?.stack ?? error),
      });
      return json(500, { detail: "Internal Server Error", code: "INTERNAL" });
    }

    function respondTo(error: AppError): Response {
      const challenge: Record<string, string> = error.status === 401 ? { "www-authenticate": "Bearer" } : {};
      return json(error.status, error, { ...challenge, ...error.headers });
    }
  });
}

/** The seed allows any origin with credentials, which means echoing the caller's origin. */
export function cors(origins: "*" | readonly string[]) {
  const allowed = (origin: string) => origins === "*" || origins.includes(origin);
  return new Elysia({ name: "cors" }).onRequest(({ request, set }) => {
    const origin = request.headers.get("origin");
    if (!origin || !allowed(origin)) return;
    set.headers["access-control-allow-origin"] = origin;
    set.headers["access-control-allow-credentials"] = "true";
    set.headers.vary = "Origin";
    if (request.method === "OPTIONS" && request.headers.has("access-control-request-method")) {
      return new Response(null, {
        status: 204,
        headers: {
          "access-control-allow-origin": origin,
          "access-control-allow-credentials": "true",
          "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
          "access-control-allow-headers":
            request.headers.get("access-control-request-headers") ?? "authorization, content-type",
          "access-control-max-age": "600",
          vary: "Origin",
        },
      });
    }
  });
}
