// The browser client: served from embedded assets at /chat, kept in step with its sources, and the client's
// message bookkeeping and reconnect logic, which run without a browser.
import { describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { join, relative } from "node:path";
import { LIMITS } from "../src/auth/model.ts";
import { MESSAGE_LIMITS } from "../src/messages/model.ts";
import { ROOM_LIMITS } from "../src/rooms/model.ts";
import { SEARCH_LIMITS } from "../src/search/query.ts";
import { sourceHash } from "../src/web/assets.generated.ts";
import { CLIENT_DIR, clientSourceHash, sharedClientSources } from "../src/web/build.ts";
import {
  BACKOFF,
  RoomSocket,
  type ConnectionState,
  type EndReason,
  type RoomSocketOptions,
} from "../src/web/client/room-socket.ts";
import { Timeline, type ChatMessage } from "../src/web/client/timeline.ts";
import { webRoutes } from "../src/web/routes.ts";

const app = new Elysia().use(webRoutes());
const get = (path: string, headers: Record<string, string> = {}) =>
  app.handle(new Request(`http://localhost${path}`, { headers }));

async function assetPaths(): Promise<{ script: string; style: string }> {
  const html = await (await get("/chat")).text();
  const script = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
  const style = /<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"|<link[^>]+href="([^"]+)"[^>]+rel="stylesheet"/.exec(
    html,
  );
  if (!script || !style) throw new Error(`page links no script or stylesheet:\n${html}`);
  return { script, style: style[1] ?? style[2]! };
}

describe("GET /chat", () => {
  test("serves the page, revalidated on each load, with a same-origin content security policy", async () => {
    const response = await get("/chat");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/html");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'self'");
    const html = await response.text();
    for (const id of [
      "login-form",
      "signup-form",
      "room-list",
      "new-room-form",
      "message-list",
      "message-input",
      "send-button",
      "online-users",
      "typing",
      "connection-state",
    ]) {
      expect(html).toContain(`id="${id}"`);
    }
  });

  test("links a script and a stylesheet that are served with their types and cached for good", async () => {
    const { script, style } = await assetPaths();
    expect(script).toMatch(/^\/chat\/.+\.js$/);
    expect(style).toMatch(/^\/chat\/.+\.css$/);

    const js = await get(script);
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toStartWith("text/javascript");
    expect(js.headers.get("cache-control")).toContain("immutable");
    const code = await js.text();
    expect(code.length).toBeGreaterThan(5000);
    expect(code).toContain("bearer.");
    expect(code).toContain("since=");

    const css = await get(style);
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toStartWith("text/css");
    expect((await css.text()).length).toBeGreaterThan(1000);
  });

  test("answers a matching If-None-Match with 304, and an unknown asset with 404", async () => {
    const etag = (await get("/chat")).headers.get("etag");
    expect(etag).toBeTruthy();
    const again = await get("/chat", { "if-none-match": etag! });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");
    expect((await get("/chat/missing.js")).status).toBe(404);
  });

  test("the embedded assets were built from the current client sources (else run `bun src/web/build.ts`)", () => {
    expect(sourceHash).toBe(clientSourceHash());
  });
});

describe("the client and the server share one protocol", () => {
  test("the bundle takes no server code: from outside the client only the wire definition, which imports nothing", () => {
    // The client imports the server's models and frames as types only; a value import would bundle Elysia.
    const root = join(CLIENT_DIR, "../../..");
    expect(sharedClientSources().map((file) => relative(root, file))).toEqual(["src/realtime/wire.ts"]);
  });

  test("the page's field limits are the server's", async () => {
    const limits: Record<string, { minlength?: number; maxlength: number }> = {
      "signup-username": { minlength: LIMITS.usernameMin, maxlength: LIMITS.usernameMax },
      "signup-password": { minlength: LIMITS.passwordMin, maxlength: LIMITS.passwordMax },
      "search-input": { maxlength: SEARCH_LIMITS.queryMax },
      "dm-username": { maxlength: LIMITS.usernameMax },
      "new-room-name": { maxlength: ROOM_LIMITS.nameMax },
      "new-room-description": { maxlength: ROOM_LIMITS.descriptionMax },
      "add-member-username": { maxlength: LIMITS.usernameMax },
      "message-input": { maxlength: MESSAGE_LIMITS.contentMax },
    };
    const found: Record<string, { minlength?: number; maxlength: number }> = {};
    const rewriter = new HTMLRewriter().on("[maxlength]", {
      element(element) {
        const min = element.getAttribute("minlength");
        found[element.getAttribute("id") ?? "(no id)"] = {
          ...(min === null ? {} : { minlength: Number(min) }),
          maxlength: Number(element.getAttribute("maxlength")),
        };
      },
    });
    await rewriter.transform(new Response(await Bun.file(join(CLIENT_DIR, "chat.html")).text())).text();
    expect(found).toEqual(limits);
  });
});

const message = (id: number, extra: Partial<ChatMessage> = {}): ChatMessage => ({
  id,
  content: `m${id}`,
  username: "alice",
  user_id: 1,
  timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, id)).toISOString(),
  room_id: 1,
  client_id: null,
  edited_at: null,
  ...extra,
});

describe("Timeline", () => {
  test("keeps stored messages ordered by id and drops ones it already has", () => {
    const timeline = new Timeline();
    expect(timeline.add(message(5))).toEqual({ before: null });
    expect(timeline.add(message(2))).toEqual({ before: 5 });
    expect(timeline.add(message(9))).toEqual({ before: null });
    expect(timeline.add(message(5))).toBeNull();
    expect(timeline.lastId).toBe(9);
    expect(timeline.firstId).toBe(2);
    expect(timeline.remove(5)).toBe(true);
    expect(timeline.add(message(7))).toEqual({ before: 9 });
  });

  test("a pending message is settled by its message frame or its ack, and resent until then", () => {
    const timeline = new Timeline();
    const first = timeline.addPending("hello");
    const second = timeline.addPending("again");
    expect(first.clientId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(timeline.unsent().map((p) => p.content)).toEqual(["hello", "again"]);

    timeline.add(message(3, { client_id: first.clientId }));
    expect(timeline.pending.has(first.clientId)).toBe(false);
    expect(timeline.ack(first.clientId, 3)).toBeNull();

    expect(timeline.ack(second.clientId, 4)?.state).toBe("stored");
    expect(timeline.unsent()).toEqual([]);
    expect(timeline.fail(second.clientId, "late")).toBeNull();
    timeline.add(message(4, { client_id: second.clientId }));
    expect(timeline.pending.size).toBe(0);
  });

  test("a refused message is marked failed with the reason", () => {
    const timeline = new Timeline();
    const pending = timeline.addPending("x".repeat(5000));
    expect(timeline.fail(pending.clientId, "too long")).toMatchObject({ state: "failed", error: "too long" });
    expect(timeline.unsent()).toEqual([]);
  });
});

/** Stands in for the browser's WebSocket: records what was asked of it and lets the test open and close it. */
class FakeSocket {
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  closedWith: number | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}
  send(data: string) {
    this.sent.push(data);
  }
  close(code: number) {
    this.closedWith = code;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(frame: object) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code: number) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}

function harness(overrides: Partial<RoomSocketOptions> = {}) {
  const sockets: FakeSocket[] = [];
  const timers: { run: () => void; ms: number }[] = [];
  const states: string[] = [];
  const ended: EndReason[] = [];
  const frames: object[] = [];
  let lastId = 0;
  const socket = new RoomSocket({
    url: (since) => `ws://host/ws/7${since === undefined ? "" : `?since=${since}`}`,
    token: () => "T",
    resumeAfter: () => lastId,
    onFrame: (frame) => frames.push(frame),
    onOpen: () => {},
    onState: (state: ConnectionState, retryInMs?: number) => states.push(retryInMs ? `${state} ${retryInMs}` : state),
    onEnd: (reason) => ended.push(reason),
    createSocket: (url, protocols) => {
      const fake = new FakeSocket(url, protocols);
      sockets.push(fake);
      return fake as unknown as WebSocket;
    },
    setTimer: (run, ms) => timers.push({ run, ms }),
    clearTimer: () => {},
    ...overrides,
  });
  const last = () => sockets.at(-1)!;
  const fireTimer = () => timers.shift()!.run();
  return { socket, sockets, timers, states, ended, frames, last, fireTimer, setLastId: (id: number) => (lastId = id) };
}

describe("RoomSocket", () => {
  test("offers the token as a subprotocol, and resumes with since after the first connection", () => {
    const h = harness();
    h.socket.start();
    expect(h.last().url).toBe("ws://host/ws/7");
    expect(h.last().protocols).toEqual(["chat", "bearer.T"]);
    h.last().open();
    h.last().receive({ type: "ack", client_id: "c", id: 1 });
    expect(h.frames).toEqual([{ type: "ack", client_id: "c", id: 1 }]);
    expect(h.socket.send({ content: "hi", client_id: "c" })).toBe(true);
    expect(h.last().sent).toEqual(['{"content":"hi","client_id":"c"}']);

    h.setLastId(41);
    h.last().drop(1013);
    h.fireTimer();
    expect(h.last().url).toBe("ws://host/ws/7?since=41");
    expect(h.socket.send({ type: "typing" })).toBe(false);
  });

  test("backs off from 0.5 s doubling to 10 s, and starts over once a connection opens", () => {
    const h = harness();
    h.socket.start();
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      h.last().drop(1006);
      delays.push(h.timers.at(-1)!.ms);
      h.fireTimer();
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, BACKOFF.maxMs, BACKOFF.maxMs]);
    h.last().open();
    h.last().drop(1001);
    expect(h.timers.at(-1)!.ms).toBe(BACKOFF.firstMs);
  });

  test("retry now: the waiting reconnect happens at once", () => {
    const h = harness();
    h.socket.start();
    h.last().open();
    h.last().drop(1006);
    expect(h.states.at(-1)).toBe(`reconnecting ${BACKOFF.firstMs}`);
    const before = h.sockets.length;
    h.socket.retryNow();
    expect(h.sockets.length).toBe(before + 1);
    h.socket.retryNow(); // nothing is waiting now: no second socket
    expect(h.sockets.length).toBe(before + 1);
  });

  test("ends for good on 1008 (token), 4403 (removed from the room) and 4404 (room deleted)", () => {
    for (const [code, reason] of [
      [1008, "unauthorized"],
      [4403, "removed"],
      [4404, "room-deleted"],
    ] as const) {
      const h = harness();
      h.socket.start();
      h.last().open();
      h.last().drop(code);
      expect(h.ended).toEqual([reason]);
      expect(h.timers).toEqual([]);
      expect(h.states.at(-1)).toBe("closed");
    }
  });

  test("asks whether to retry after a handshake that never opened", async () => {
    const h = harness({ whyNotRetry: async () => "room-deleted" });
    h.socket.start();
    h.last().drop(1006);
    await Bun.sleep(0);
    expect(h.ended).toEqual(["room-deleted"]);
    expect(h.timers).toEqual([]);
  });

  test("drops the socket when the browser goes offline and reconnects at once when it is back", () => {
    const h = harness();
    h.socket.start();
    h.last().open();
    h.socket.setOnline(false);
    expect(h.last().closedWith).toBe(1000);
    expect(h.states.at(-1)).toBe("offline");
    expect(h.timers).toEqual([]);
    h.socket.setOnline(true);
    expect(h.sockets).toHaveLength(2);
    expect(h.last().url).toBe("ws://host/ws/7?since=0");
    expect(h.states.at(-1)).toBe("reconnecting");
  });
});
