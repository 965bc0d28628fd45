// WS /ws/{room_id}: the handshake (token, room, origin) refused before the upgrade, then history, presence,
// and the message path: frame -> validate -> rate limit -> writer (stored, then published) -> ack.
// WS /ws: the person socket (person.ts), with the same handshake and counted against the same per-user cap.
// Over 300 lines on purpose: both sockets share the handshake and its refusals, which belong together.
import { Elysia, t } from "elysia";
import type { AuthService } from "../auth/service.ts";
import type { ServerWebSocket } from "bun";
import type { ReadService } from "../reads/service.ts";
import type { RoomAccessControl } from "../rooms/access.ts";
import type { Clock } from "../clock.ts";
import { AppError } from "../errors.ts";
import { Cursor, Id } from "../ids.ts";
import { normalizeContent } from "../messages/model.ts";
import type { MessageRateLimit } from "../messages/rate-limit.ts";
import type { MessageWriter } from "../messages/writer.ts";
import { MissingReferenceError, type UserRecord } from "../store/store.ts";
import type { Hub, LiveSocket, Session } from "./hub.ts";
import { replayHistory } from "./join-replay.ts";
import type { PersonChannel, PersonSession, PersonSocket } from "./person.ts";
import { CLOSE, frames, parseClientFrame, WS_LIMITS } from "./protocol.ts";

export interface RealtimeDeps {
  auth: AuthService;
  access: RoomAccessControl;
  reads: ReadService;
  writer: MessageWriter;
  hub: Hub;
  people: PersonChannel;
  clock: Clock;
  corsOrigins: "*" | readonly string[];
  /** The sender's budget, shared with their other sockets and their HTTP posts. */
  rateLimit: MessageRateLimit;
  /** Open sockets per user on this instance; 0 = no cap. */
  socketsPerUser: number;
}

const SUBPROTOCOL = "chat";
const BEARER_PREFIX = "bearer.";

/** The token from `?token=` (the seed) or from a `bearer.<JWT>` subprotocol offered next to `chat`. */
function handshakeToken(query: { token?: string }, protocols: string | null): { token?: string; viaProtocol: boolean } {
  const offered = protocols?.split(",").map((p) => p.trim()) ?? [];
  const fromProtocol = offered.find((p) => p.startsWith(BEARER_PREFIX))?.slice(BEARER_PREFIX.length);
  if (fromProtocol) return { token: fromProtocol, viaProtocol: true };
  return { token: query.token, viaProtocol: false };
}

/** What in-band renewal needs of a socket: both kinds (room and person) have it. */
type RenewableSocket = ServerWebSocket<{
  session: { user: UserRecord; expiresAt: number; closed: boolean; expiryTimer?: ReturnType<typeof setTimeout> };
}>;

const send = (ws: RenewableSocket, frame: object) => ws.send(JSON.stringify(frame));

export function realtimeRoutes(deps: RealtimeDeps) {
  const { auth, access, reads, writer, hub, people, clock, corsOrigins, rateLimit, socketsPerUser } = deps;

  // Counted from the moment of the upgrade, not from `open`, so a burst of handshakes cannot all pass the check.
  const openSockets = new Map<number, number>();
  function releaseSocket(userId: number): void {
    const count = (openSockets.get(userId) ?? 1) - 1;
    if (count > 0) openSockets.set(userId, count);
    else openSockets.delete(userId);
  }

  // Acks of one commit go out together: one corked write per socket instead of a syscall per ack (a commit
  // resolves all its writers' promises at once, so their continuations run before this microtask).
  const acks = new Map<LiveSocket, string[]>();
  function flushAcks(): void {
    for (const [ws, list] of acks) {
      if (ws.data.session.closed) continue;
      ws.cork(() => {
        for (const frame of list) ws.send(frame);
      });
    }
    acks.clear();
  }
  function queueAck(ws: LiveSocket, frame: object): void {
    const json = JSON.stringify(frame);
    const list = acks.get(ws);
    if (list) return void list.push(json);
    if (acks.size === 0) queueMicrotask(flushAcks);
    acks.set(ws, [json]);
  }

  /** Closes the socket with 1008 when its token has expired; then it should not act on another frame. */
  function expireSoon(ws: RenewableSocket): void {
    const { session } = ws.data;
    clearTimeout(session.expiryTimer);
    session.expiryTimer = setTimeout(
      () => ws.close(CLOSE.POLICY, "token expired"),
      Math.max(0, session.expiresAt - clock()),
    );
  }

  /**
   * In-band renewal: a fresh access token of the same user moves the socket's expiry. Any other token (another
   * user's, expired, revoked, malformed) is an error frame and close 1008, as an expiry would be.
   */
  async function renew(ws: RenewableSocket, token: string): Promise<void> {
    const { session } = ws.data;
    let renewed;
    try {
      renewed = await auth.authenticateSession(token);
    } catch (error) {
      if (session.closed) return;
      if (!(error instanceof AppError))
        return void send(ws, frames.error("STORE_UNAVAILABLE", "The token could not be checked; send it again"));
      send(ws, frames.error(error.reason, error.message));
      return ws.close(CLOSE.POLICY, "token refused");
    }
    if (session.closed) return;
    if (renewed.user.id !== session.user.id) {
      send(ws, frames.error("TOKEN_USER_MISMATCH", "The token is another user's"));
      return ws.close(CLOSE.POLICY, "token refused");
    }
    session.user = renewed.user;
    session.expiresAt = renewed.expiresAt;
    expireSoon(ws);
    send(ws, frames.authOk(renewed.expiresAt));
  }

  async function handleMessage(ws: LiveSocket, content: string, clientId: string | null): Promise<void> {
    const { session } = ws.data;
    const refuse = (code: string, detail: string) => void send(ws, frames.error(code, detail, clientId ?? undefined));
    let normalized: string;
    try {
      normalized = normalizeContent(content);
    } catch (error) {
      if (error instanceof AppError) return refuse(error.code, error.message);
      throw error;
    }
    // Only what would be stored spends the budget, so a refusal names what is wrong with the message itself.
    if (rateLimit.take(session.user.id) > 0) return refuse("RATE_LIMITED", rateLimit.detail);
    try {
      const { record } = await writer.write({
        roomId: session.roomId,
        author: session.user,
        content: normalized,
        clientId,
      });
      if (clientId !== null && !session.closed) queueAck(ws, frames.ack(clientId, record.id));
    } catch (error) {
      if (session.closed) return;
      if (error instanceof MissingReferenceError) refuse("ROOM_NOT_FOUND", "Room not found");
      else refuse("STORE_UNAVAILABLE", "The message was not stored; send it again");
    }
  }

  /** A frame that waited for an admission that failed: not acted on, and said so (a message can be resent). */
  function refuseUnchecked(ws: LiveSocket, raw: string | Buffer) {
    const frame = parseClientFrame(raw);
    if ("code" in frame || frame.type !== "message") return;
    send(
      ws,
      frames.error("STORE_UNAVAILABLE", "The message was not stored; send it again", frame.clientId ?? undefined),
    );
  }

  function handleFrame(ws: LiveSocket, raw: string | Buffer) {
    const { session } = ws.data;
    if (session.closed) return;
    // Timers run late under load: a frame that arrives after the token expired is not acted on.
    if (clock() >= session.expiresAt) return ws.close(CLOSE.POLICY, "token expired");
    const frame = parseClientFrame(raw);
    if ("code" in frame) return send(ws, frames.error(frame.code, frame.detail, frame.clientId));
    if (frame.type === "auth") return void renew(ws, frame.token);
    if (frame.type === "read") {
      return reads.markReadSoon(session.user, session.roomId, frame.messageId, ws, () => {
        if (!session.closed)
          send(ws, frames.error("STORE_UNAVAILABLE", "The read position was not stored; send it again"));
      });
    }
    if (frame.type === "typing") {
      const now = clock();
      if (now - session.lastTypingAt < WS_LIMITS.typingIntervalMs) return;
      session.lastTypingAt = now;
      hub.typing(ws);
      return;
    }
    void handleMessage(ws, frame.content, frame.clientId);
  }

  /**
   * Bun's handlers for every socket of this route, shared: a socket's data is its session and these three
   * references (Elysia's own `.ws()` keeps the whole request context and a set of closures per socket). This
   * relies on Elysia's Bun adapter serving with one `websocket` handler set (elysia/dist/ws `websocket`) that calls
   * `ws.data.open`, `ws.data.message` and `ws.data.close`: the handlers `.ws()` itself puts in the upgrade data.
   * test/dependency-internals.test.ts fails if an Elysia upgrade stops forwarding them.
   */
  const handlers = {
    async open(ws: LiveSocket) {
      const { session } = ws.data;
      const admission = hub.track(ws);
      // From here on, every frame published to the room is kept for this socket until it subscribes.
      const recorder = hub.replay.watermarks.record(session.roomId);
      session.admission = admission;
      // Before the frames that waited for it are handled (they were queued on it later). When the token could not
      // be checked (the database went away), the frames that waited are refused first (their reactions come after
      // this one, and the close is queued behind them), then the socket closes so the client comes back and resends.
      void admission.then(
        () => (session.admission = undefined),
        () => queueMicrotask(() => ws.close(CLOSE.TRY_AGAIN_LATER, "could not check the token; reconnect")),
      );
      expireSoon(ws);
      try {
        // A removal that ran between the handshake's check and this socket's registration closed nothing: ask
        // again now that later removals will find the socket (a cached answer was dropped by the removal).
        await access.read(session.user, session.roomId);
      } catch {
        recorder.stop();
        return ws.close(CLOSE.REMOVED_FROM_ROOM, "not a member of the room");
      }
      try {
        await replayHistory(hub.replay, ws, recorder, admission);
      } catch {
        ws.close(CLOSE.INTERNAL, "history unavailable");
      } finally {
        recorder.stop();
      }
    },

    message(ws: LiveSocket, raw: string | Buffer) {
      const { admission } = ws.data.session;
      // Frames that come before the socket is admitted wait, in order; after that, no database read per frame.
      if (admission)
        return void admission.then(
          (admitted) => admitted && handleFrame(ws, raw),
          () => refuseUnchecked(ws, raw),
        );
      handleFrame(ws, raw);
    },

    close(ws: LiveSocket) {
      const { session } = ws.data;
      session.closed = true;
      releaseSocket(session.user.id);
      clearTimeout(session.expiryTimer);
      void hub.untrack(ws).catch(() => {});
    },
  };

  const personHandlers = {
    ...people.handlers,
    // The person socket only sends, except for the same in-band renewal (and the same expiry rule) as a room's.
    message(ws: PersonSocket, raw: string | Buffer) {
      const { session } = ws.data;
      if (session.closed) return;
      if (clock() >= session.expiresAt) return ws.close(CLOSE.POLICY, "token expired");
      const frame = parseClientFrame(raw);
      if (!("code" in frame) && frame.type === "auth") return void renew(ws, frame.token);
      people.handlers.message(ws);
    },
    close(ws: PersonSocket) {
      releaseSocket(ws.data.session.user.id);
      people.handlers.close(ws);
    },
  };

  /** The checks both sockets make before the upgrade: origin, token, then the room (`roomId`) and the user's cap. */
  async function handshake(request: Request, query: { token?: string }, setHeaders: unknown, roomId?: number) {
    const origin = request.headers.get("origin");
    if (origin && corsOrigins !== "*" && !corsOrigins.includes(origin)) {
      throw new AppError("FORBIDDEN", { detail: "Origin not allowed", reason: "ORIGIN_NOT_ALLOWED" });
    }
    const { token, viaProtocol } = handshakeToken(query, request.headers.get("sec-websocket-protocol"));
    if (!token) throw new AppError("NOT_AUTHENTICATED");
    // The room is read beside the user (the token names them): a join finding neither cached waits for one read.
    const room = roomId === undefined ? undefined : (userId: number) => access.read({ id: userId }, roomId);
    const { user, expiresAt } = await auth.authenticateSession(token, false, room);
    const open = openSockets.get(user.id) ?? 0;
    if (socketsPerUser > 0 && open >= socketsPerUser) {
      throw new AppError("TOO_MANY_SOCKETS", { detail: `At most ${socketsPerUser} open sockets per user` });
    }
    const headers: Record<string, string> = { ...(setHeaders as Record<string, string>) };
    if (viaProtocol) headers["sec-websocket-protocol"] = SUBPROTOCOL;
    openSockets.set(user.id, open + 1);
    return { user, expiresAt, headers };
  }

  return new Elysia({ name: "realtime", seed: hub })
    .get(
      "/ws/:room_id",
      // Refusals are HTTP responses (401/403/404) and no upgrade happens.
      async ({ params, query, request, server, set }) => {
        const { user, expiresAt, headers } = await handshake(request, query, set.headers, params.room_id);
        const session: Session = {
          user,
          roomId: params.room_id,
          since: query.since,
          expiresAt,
          joined: false,
          closed: false,
          lastTypingAt: 0,
        };
        if (server?.upgrade(request, { headers, data: { session, ...handlers } })) return;
        releaseSocket(user.id);
        throw new AppError("UPGRADE_REQUIRED", { headers: { upgrade: "websocket" } });
      },
      {
        params: t.Object({ room_id: Id }),
        query: t.Object({ token: t.Optional(t.String()), since: t.Optional(Cursor) }),
        detail: {
          tags: ["realtime"],
          summary: "Live room (WebSocket)",
          description:
            "A WebSocket upgrade. Token as `?token=` or as subprotocol `bearer.<JWT>` offered next to `chat`. " +
            "Refused before the upgrade with 401, 403, 404 or 429 (too many open sockets for the user); a plain GET gets 426. The socket closes with 1008 when " +
            'its token expires, unless renewed in band: `{"type":"auth","token":"<newer JWT of the same user>"}` is ' +
            'answered `{"type":"auth_ok","expires_at":"<ISO time>"}`; another user\'s or an invalid token gets an ' +
            "`error` frame and close 1008. Frames: docs/protocol.md.",
        },
      },
    )
    .get(
      "/ws",
      async ({ query, request, server, set }) => {
        const { user, expiresAt, headers } = await handshake(request, query, set.headers);
        const session: PersonSession = { user, expiresAt, closed: false };
        if (server?.upgrade(request, { headers, data: { session, ...personHandlers } })) return;
        releaseSocket(user.id);
        throw new AppError("UPGRADE_REQUIRED", { headers: { upgrade: "websocket" } });
      },
      {
        query: t.Object({ token: t.Optional(t.String()) }),
        detail: {
          tags: ["realtime"],
          summary: "Your rooms, live (WebSocket): rooms added and removed, read positions, room activity",
          description:
            "A WebSocket upgrade with the same token rules as `/ws/{room_id}`, counted in the same per-user socket cap. " +
            "It sends `ready`, `room_added`, `room_removed`, `read`, `room_activity`, and takes only the in-band " +
            'renewal of `/ws/{room_id}`: `{"type":"auth","token"}` -> `{"type":"auth_ok","expires_at"}`, or an ' +
            "`error` frame and close 1008. Frames: docs/protocol.md.",
        },
      },
    );
}
