// One live room: a WebSocket that carries the token as a subprotocol, renews it in place (the `auth` frame),
// reconnects with backoff and `since`, and tells the page when it ends (token refused, room deleted).
// The frames, and the close codes acted on, are the server's own (src/realtime/wire.ts): a change there that the
// page does not follow fails the type-check.
import { CLOSE, type ClientWireFrame, type PersonServerFrame, type RoomServerFrame } from "../../realtime/wire.ts";

export type { PresenceUser } from "../../realtime/wire.ts";
/** What a room socket (GET /ws/{room_id}) sends. */
export type ServerFrame = RoomServerFrame;
/** What the person socket (GET /ws) sends. */
export type PersonFrame = PersonServerFrame;

export const BACKOFF = { firstMs: 500, maxMs: 10_000 } as const;

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline" | "closed";
export type EndReason = "unauthorized" | "room-deleted" | "removed";

export interface RoomSocketOptions<F = ServerFrame> {
  /** The socket URL; `since` is set on reconnects, so the server sends only what was missed. */
  url(since: number | undefined): string;
  token(): string;
  /** The id everything up to which the page already has. */
  resumeAfter(): number;
  onFrame(frame: F): void;
  onOpen(): void;
  onState(state: ConnectionState, retryInMs?: number): void;
  onEnd(reason: EndReason): void;
  /**
   * A refused handshake (bad token, deleted room) looks like a network error to a browser, so after an attempt
   * that never opened the page may ask the server over HTTP whether trying again makes sense.
   */
  whyNotRetry?(): Promise<EndReason | null>;
  createSocket?(url: string, protocols: string[]): WebSocket;
  setTimer?(run: () => void, ms: number): unknown;
  clearTimer?(timer: unknown): void;
}

const OPEN = 1;

export class RoomSocket<F = ServerFrame> {
  private socket: WebSocket | null = null;
  private timer: unknown = null;
  private failures = 0;
  private hasOpened = false;
  private online = true;
  private stopped = false;
  /** The access token this socket holds on the server: the handshake's, then the last one sent in an `auth` frame. */
  private tokenHeld = "";

  constructor(private readonly options: RoomSocketOptions<F>) {}

  start(): void {
    this.connect();
  }

  /** Sends a frame if the socket is open; false means it was not sent (it will be resent on reconnect). */
  send(frame: ClientWireFrame): boolean {
    if (this.socket?.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** The page has a newer access token: an open socket renews in place, with no reconnect; a closed one uses it next. */
  renew(): void {
    const token = this.options.token();
    if (token !== this.tokenHeld && this.send({ type: "auth", token })) this.tokenHeld = token;
  }

  /** "Retry now": the waiting reconnect happens at once. */
  retryNow(): void {
    if (this.stopped || this.timer === null) return;
    this.cancelTimer();
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer();
    this.drop();
    this.options.onState("closed");
  }

  /** From the window's online/offline events: a socket over a vanished network may not notice for minutes. */
  setOnline(online: boolean): void {
    if (this.stopped || online === this.online) return;
    this.online = online;
    this.cancelTimer();
    if (!online) {
      this.drop();
      this.options.onState("offline");
    } else {
      this.failures = 0;
      this.connect();
    }
  }

  private connect(): void {
    const since = this.hasOpened ? this.options.resumeAfter() : undefined;
    const create = this.options.createSocket ?? ((url, protocols) => new WebSocket(url, protocols));
    const token = this.options.token();
    const socket = create(this.options.url(since), ["chat", `bearer.${token}`]);
    this.tokenHeld = token;
    this.socket = socket;
    this.options.onState(this.hasOpened ? "reconnecting" : "connecting");
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.hasOpened = true;
      this.failures = 0;
      this.options.onState("connected");
      // Refreshed while the handshake was under way.
      this.renew();
      this.options.onOpen();
    };
    socket.onmessage = (event) => {
      const frame = parseFrame(event.data);
      if (frame) this.options.onFrame(frame as F);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      void this.closed(event.code, opened);
    };
  }

  private async closed(code: number, opened: boolean): Promise<void> {
    if (code === CLOSE.POLICY) return this.end("unauthorized");
    if (code === CLOSE.ROOM_DELETED) return this.end("room-deleted");
    if (code === CLOSE.REMOVED_FROM_ROOM) return this.end("removed");
    if (!opened && this.options.whyNotRetry) {
      const reason = await this.options.whyNotRetry().catch(() => null);
      if (this.stopped || this.socket) return;
      if (reason) return this.end(reason);
    }
    if (!this.online) return;
    // Everything else (1001 going away, 1013 too slow, 1006 network) is worth another try, later each time.
    const delay = Math.min(BACKOFF.firstMs * 2 ** this.failures, BACKOFF.maxMs);
    this.failures += 1;
    this.options.onState("reconnecting", delay);
    const setTimer = this.options.setTimer ?? ((run, ms) => setTimeout(run, ms));
    this.timer = setTimer(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private end(reason: EndReason): void {
    this.stopped = true;
    this.options.onState("closed");
    this.options.onEnd(reason);
  }

  private drop(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.close(1000);
    }
  }

  private cancelTimer(): void {
    if (this.timer === null) return;
    (this.options.clearTimer ?? ((timer) => clearTimeout(timer as ReturnType<typeof setTimeout>)))(this.timer);
    this.timer = null;
  }
}

function parseFrame(data: unknown): ServerFrame | null {
  if (typeof data !== "string") return null;
  try {
    const frame: unknown = JSON.parse(data);
    return typeof frame === "object" && frame !== null && typeof (frame as { type?: unknown }).type === "string"
      ? (frame as ServerFrame)
      : null;
  } catch {
    return null;
  }
}
