// A WebSocket test client: frames are queued, and tests await the next frame that matches, never a sleep.
export interface Frame {
  type: string;
  [key: string]: any;
}

export class TestSocket {
  readonly frames: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void; reject: (e: Error) => void }[] = [];
  /** Frames already handed to a waiter: each frame satisfies one `next` call at most. */
  private consumed = new Set<number>();
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly ws: WebSocket;

  constructor(url: string, protocols?: string[]) {
    this.ws = new WebSocket(url, protocols);
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve());
      this.ws.addEventListener("error", () => reject(new Error(`socket error: ${url}`)));
    });
    this.opened.catch(() => {}); // a refused handshake is observed through `closed`
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener("close", (event) => {
        resolve({ code: event.code, reason: event.reason });
        for (const w of this.waiters.splice(0)) w.reject(new Error(`socket closed (${event.code}) while waiting`));
      });
    });
    this.ws.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data)) as Frame;
      this.frames.push(frame);
      const index = this.waiters.findIndex((w) => w.match(frame));
      if (index >= 0) {
        const [waiter] = this.waiters.splice(index, 1);
        this.consumed.add(this.frames.length - 1);
        waiter!.resolve(frame);
      }
    });
  }

  /** The earliest frame not yet returned by `next` that matches, now or when it arrives. */
  next(match: (f: Frame) => boolean = () => true, timeoutMs = 10_000): Promise<Frame> {
    for (let i = 0; i < this.frames.length; i++) {
      if (!this.consumed.has(i) && match(this.frames[i]!)) {
        this.consumed.add(i);
        return Promise.resolve(this.frames[i]!);
      }
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching frame in ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5))}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  nextOfType(type: string, timeoutMs?: number) {
    return this.next((f) => f.type === type, timeoutMs);
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Sends a message and resolves with its ack. */
  async say(content: string, clientId: string = crypto.randomUUID()) {
    this.send({ content, client_id: clientId });
    return this.next((f) => (f.type === "ack" || f.type === "error") && f.client_id === clientId);
  }

  ofType(type: string) {
    return this.frames.filter((f) => f.type === type);
  }

  close() {
    this.ws.close();
    return this.closed;
  }
}

/** The HTTP status of a refused upgrade (Bun's client reports no status, so the handshake is sent by fetch). */
export async function handshakeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(url.replace(/^ws/, "http"), {
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": btoa("0123456789abcdef"),
      ...headers,
    },
  });
  await response.body?.cancel();
  return response.status;
}
