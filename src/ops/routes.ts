// Operations: a request id, metrics and one JSON log line for every request (global hooks), GET /ready and
// GET /metrics.
import { Elysia } from "elysia";
import { AppError } from "../errors.ts";
import type { MessageWriter } from "../messages/writer.ts";
import type { Hub } from "../realtime/hub.ts";
import type { Store } from "../store/store.ts";
import type { Metrics } from "./metrics.ts";

/** Receives one JSON line per request (no trailing newline). */
export type RequestLog = (line: string) => void;

export interface OperationsDeps {
  store: Store;
  hub: Hub;
  writer: MessageWriter;
  metrics: Metrics;
  requestLog?: RequestLog;
}

/** What a caller may send as x-request-id; anything else is replaced, so logs stay one clean line. */
const REQUEST_ID = /^[\w.:+=/-]{1,128}$/;
export const READY_TIMEOUT_MS = 2000;

/** Written on the request's context by onRequest, read back once the response is out. */
interface Started {
  startedAt: number;
  requestId: string;
}

/** Three base64url runs joined by dots: the shape of a JWT, whatever parameter or path segment carries it. */
const JWT_SHAPED = /[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/;
/** What could hide a token from a plain look at the raw text: escapes, `+`, or the name itself. */
const MAY_HIDE_TOKEN = /[%+.]|token/i;

/** As the query parser reads it (`+` is a space, escapes decoded), and again while that changes anything. */
function decoded(text: string): string {
  for (let i = 0; i < 3; i++) {
    let next: string;
    try {
      next = decodeURIComponent(text.replaceAll("+", " "));
    } catch {
      return text; // a malformed escape: the query parser keeps such text as it is too
    }
    if (next === text) break;
    text = next;
  }
  return text;
}

/**
 * The path and query as sent, with secrets blanked: the value of every parameter whose decoded name is `token`
 * (the seed's WebSocket auth, however it is spelled: `%74oken`, repeated, `+`), and any path segment or
 * parameter value that holds something shaped like a JWT once decoded.
 */
export function loggedPath(url: string): string {
  const path = url.slice(url.indexOf("/", url.indexOf("//") + 2));
  if (!MAY_HIDE_TOKEN.test(path)) return path;
  const queryAt = path.indexOf("?");
  const pathname = queryAt === -1 ? path : path.slice(0, queryAt);
  const segments = pathname.split("/").map((segment) => (JWT_SHAPED.test(decoded(segment)) ? "REDACTED" : segment));
  if (queryAt === -1) return segments.join("/");
  const pairs = path
    .slice(queryAt + 1)
    .split("&")
    .map((pair) => {
      const equals = pair.indexOf("=");
      if (equals === -1) return JWT_SHAPED.test(decoded(pair)) ? "REDACTED" : pair;
      const name = decoded(pair.slice(0, equals));
      if (JWT_SHAPED.test(name)) return "REDACTED";
      return name === "token" || JWT_SHAPED.test(decoded(pair.slice(equals + 1)))
        ? `${pair.slice(0, equals)}=REDACTED`
        : pair;
    });
  return `${segments.join("/")}?${pairs.join("&")}`;
}

export function operationsRoutes(deps: OperationsDeps) {
  const { store, hub, writer, metrics, requestLog } = deps;

  /** Why this instance should not take traffic, or undefined when it should. */
  async function notReady(): Promise<string | undefined> {
    try {
      await store.ping();
      return (await store.migrationsApplied()) ? undefined : "Database migrations are not applied";
    } catch {
      return "Database unavailable";
    }
  }

  return (
    new Elysia({ name: "operations" })
      .onRequest((context) => {
        const started = context as unknown as Started;
        started.startedAt = performance.now();
        const given = context.request.headers.get("x-request-id");
        started.requestId = given !== null && REQUEST_ID.test(given) ? given : Bun.randomUUIDv7();
        context.set.headers["x-request-id"] = started.requestId;
      })
      // A handler's own Response takes the context's headers (request id, CORS) itself: left in `set`, they make
      // Elysia copy the whole response into a new one through a stream, which halves a history read's speed.
      .mapResponse({ as: "global" }, ({ responseValue, set }) => {
        if (!(responseValue instanceof Response)) return;
        const { headers } = responseValue;
        for (const name in set.headers) {
          if (!headers.has(name)) headers.set(name, set.headers[name] as string);
          delete set.headers[name];
        }
      })
      .onAfterResponse({ as: "global" }, (context) => {
        const { request, set } = context;
        const seconds = (performance.now() - (context as unknown as Started).startedAt) / 1000;
        // A handler's own Response carries its status; otherwise Elysia (or the error handler) put it in `set`.
        const value = context.responseValue;
        let status = value instanceof Response ? value.status : typeof set.status === "number" ? set.status : 200;
        // An accepted WebSocket handshake leaves no response behind: Bun answered it with 101.
        if (status === 200 && value === undefined && request.headers.get("upgrade") === "websocket") status = 101;
        // Unmatched paths share one series: a raw path per series would let any client grow /metrics without bound.
        const route = context.route || "unmatched";
        metrics.observeRequest(request.method, route, status, seconds);
        if (!requestLog) return;
        requestLog(
          JSON.stringify({
            time: new Date().toISOString(),
            msg: "request",
            method: request.method,
            route,
            path: loggedPath(request.url),
            status,
            duration_ms: Math.round(seconds * 1e6) / 1e3,
            request_id: (context as unknown as Started).requestId,
          }),
        );
      })
      .get(
        "/ready",
        async () => {
          const reason = await Promise.race([
            notReady(),
            Bun.sleep(READY_TIMEOUT_MS).then(() => `Database did not answer within ${READY_TIMEOUT_MS} ms`),
          ]);
          if (reason === undefined) return { status: "ready" };
          throw new AppError("STORE_UNAVAILABLE", { detail: reason, reason: "NOT_READY" });
        },
        { detail: { hide: true } },
      )
      .get(
        "/metrics",
        ({ set }) => {
          set.headers["content-type"] = "text/plain; version=0.0.4; charset=utf-8";
          return metrics.render({
            counters: {
              messages_stored_total: [
                "Messages stored by the message writer (resends of a stored client_id excluded).",
                writer.stats.stored,
              ],
              messages_delivered_total: [
                "Stored messages published to a room, times the sockets in that room at publish time.",
                hub.counters.delivered,
              ],
              room_frames_published_total: [
                "Frames published to room topics (messages, edits, deletes, presence).",
                hub.counters.published,
              ],
              slow_consumers_closed_total: [
                "Sockets closed with 1013 because their send buffer passed the limit.",
                hub.counters.slowConsumersClosed,
              ],
            },
            gauges: {
              websocket_connections: ["Open WebSocket connections on this instance.", hub.socketCount],
              rooms_with_sockets: ["Rooms with at least one socket on this instance.", hub.roomCount],
            },
          });
        },
        { detail: { hide: true } },
      )
  );
}
