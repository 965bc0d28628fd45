// The join seam without a network: a joiner whose history holds messages this instance has not published yet
// (the bus behind the database) gets its history at once, then every later frame once, in order.
import { describe, expect, test } from "bun:test";
import { createWatermarks, replayHistory, type Watermarks } from "../src/realtime/join-replay.ts";
import { createPublisher } from "../src/realtime/publisher.ts";
import { roomTopic } from "../src/realtime/protocol.ts";
import { createSocketRegistry, type LiveSocket, type Session } from "../src/realtime/sockets.ts";
import type { MessageWithAuthor, Store, UserRecord } from "../src/store/store.ts";

const ROOM = 1;
const author = { id: 7, username: "ann" };
const user = { id: 7, username: "ann", tokenVersion: 0 } as UserRecord;

function message(id: number): MessageWithAuthor {
  return {
    id,
    roomId: ROOM,
    userId: 7,
    content: `m${id}`,
    clientId: null,
    createdAt: new Date(0),
    editedAt: null,
    author,
  } as MessageWithAuthor;
}

/** One instance's publishing side with fake sockets: `committed` is the database, `publish(id)` the bus delivering. */
function instance() {
  const committed: MessageWithAuthor[] = [];
  const sockets = createSocketRegistry();
  const watermarks: Watermarks = createWatermarks();
  const fakes: FakeSocket[] = [];
  const server = {
    publish(topic: string, json: string) {
      for (const ws of fakes) if (ws.topics.has(topic) && !ws.data.session.closed) ws.received.push(json);
      return 0;
    },
  };
  const publisher = createPublisher({
    sockets,
    watermarks,
    clock: () => 0,
    counters: { published: 0, delivered: 0, slowConsumersClosed: 0 },
  });
  publisher.attach(server);
  let gate: Promise<void> | undefined;
  const store = {
    async listMessages(_roomId: number, options: { limit: number; after?: number; skip?: number }) {
      const read =
        options.after === undefined
          ? committed.toReversed().slice(0, options.limit)
          : committed.filter((m) => m.id > options.after!).slice(0, options.limit);
      if (gate) await gate;
      return read;
    },
  } as unknown as Store;
  const join = async (ws: LiveSocket, coveredId: number) => watermarks.subscribe(ws, coveredId);
  function socket(since?: number): FakeSocket {
    const session: Session = {
      user,
      roomId: ROOM,
      since,
      expiresAt: Infinity,
      joined: false,
      closed: false,
      lastTypingAt: 0,
    };
    const ws = new FakeSocket(session);
    fakes.push(ws);
    sockets.add(ws as unknown as LiveSocket);
    return ws;
  }
  return {
    committed,
    watermarks,
    publisher,
    commit: (...ids: number[]) => committed.push(...ids.map(message)),
    publish: (...ids: number[]) => ids.forEach((id) => publisher.message(message(id), author)),
    socket,
    replay: (ws: FakeSocket) =>
      replayHistory({ store, watermarks, join }, ws as unknown as LiveSocket, Promise.resolve(true)),
    holdReads: () => {
      const held = Promise.withResolvers<void>();
      gate = held.promise;
      return () => {
        gate = undefined;
        held.resolve();
      };
    },
  };
}

class FakeSocket {
  received: string[] = [];
  topics = new Set<string>();
  constructor(session: Session) {
    this.data = { session };
  }
  data: { session: Session };
  send(json: string) {
    if (!this.data.session.closed) this.received.push(json);
    return json.length;
  }
  subscribe(topic: string) {
    this.topics.add(topic);
  }
  cork<T>(fn: () => T): T {
    return fn();
  }
  get frames() {
    return this.received.map((json) => JSON.parse(json));
  }
  get messageIds() {
    return this.frames.filter((f) => f.type === "message").map((f) => f.id as number);
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("joining while the bus runs behind the database", () => {
  test("with since: the history and sync come at once; the messages it held are not sent again once published", async () => {
    const it = instance();
    const here = it.socket();
    await it.replay(here);
    it.commit(...range(1, 10));
    it.publish(...range(1, 10));
    it.commit(...range(11, 15)); // committed, not yet published here
    const joiner = it.socket(8);
    await it.replay(joiner); // resolves without any of 11-15 being published
    expect(it.watermarks.upTo(ROOM)).toBe(10);
    expect(joiner.messageIds).toEqual(range(9, 15));
    expect(joiner.frames.at(-1)).toEqual({ type: "sync", complete: true });
    expect(joiner.topics.has(roomTopic(ROOM))).toBe(false);

    it.publisher.frame(ROOM, { type: "member_added" }); // not a message: goes to the joiner at once
    it.commit(16, 17);
    it.publish(...range(11, 17));
    expect(joiner.topics.has(roomTopic(ROOM))).toBe(true);
    it.commit(18);
    it.publish(18);
    expect(joiner.messageIds).toEqual(range(9, 18));
    expect(joiner.frames.slice(7).map((f) => f.type)).toEqual([
      "sync",
      "member_added",
      "message",
      "message",
      "message",
    ]);
    expect(here.messageIds).toEqual(range(1, 18));
  });

  test("with since past what this instance has published (the client came from a faster one): nothing twice", async () => {
    const it = instance();
    await it.replay(it.socket());
    it.commit(...range(1, 10));
    it.publish(...range(1, 4));
    const joiner = it.socket(8);
    await it.replay(joiner);
    expect(joiner.messageIds).toEqual([9, 10]);
    it.publish(...range(5, 10));
    it.commit(11);
    it.publish(11);
    expect(joiner.messageIds).toEqual([9, 10, 11]);
  });

  test("without since: the last page, then what follows it, with no gap when the instance is a page behind", async () => {
    const it = instance();
    await it.replay(it.socket());
    it.commit(...range(1, 50));
    it.publish(...range(1, 5));
    const joiner = it.socket();
    const release = it.holdReads();
    const replaying = it.replay(joiner);
    it.publish(6, 7); // published while the page loads, older than the page (31-50)
    release();
    await replaying;
    expect(joiner.messageIds).toEqual(range(31, 50));
    it.commit(51);
    it.publish(...range(8, 51));
    expect(joiner.messageIds).toEqual(range(31, 51));
  });

  test("without since and the instance up to date: messages published while the page loads come first, once", async () => {
    const it = instance();
    await it.replay(it.socket());
    it.commit(...range(1, 30));
    it.publish(...range(1, 5));
    const joiner = it.socket();
    const release = it.holdReads();
    const replaying = it.replay(joiner);
    it.publish(...range(6, 30));
    release();
    await replaying;
    expect(joiner.messageIds).toEqual(range(6, 30)); // the page read 11-30 as it was when the read began
    expect(joiner.topics.has(roomTopic(ROOM))).toBe(true);
  });

  test("the room's first socket here with a since past every message: the room's later messages still go out", async () => {
    const it = instance();
    it.commit(...range(1, 5));
    const ahead = it.socket(2 ** 31 - 1);
    await it.replay(ahead);
    expect(ahead.frames).toEqual([{ type: "sync", complete: true }]);
    const other = it.socket(5);
    await it.replay(other);
    it.publish(...range(1, 5)); // the bus's notifications of those, arriving late here
    it.commit(6);
    it.publish(6);
    expect(other.messageIds).toEqual([6]);
    expect(ahead.messageIds).toEqual([]);
  });

  test("typing by a socket of this instance reaches a socket not yet subscribed, and not the typist itself", async () => {
    const it = instance();
    it.commit(...range(1, 3));
    const typist = it.socket(0);
    await it.replay(typist); // nothing published yet: both wait for message 3
    const joiner = it.socket(0);
    await it.replay(joiner);
    const typing = JSON.stringify({ type: "typing", user_id: 7, username: "ann" });
    it.watermarks.recorded(ROOM, undefined, typing, typist);
    expect(joiner.received.at(-1)).toBe(typing);
    expect(typist.received).not.toContain(typing);
  });

  test("a socket closed before the instance catches up is sent nothing more", async () => {
    const it = instance();
    await it.replay(it.socket());
    it.commit(...range(1, 10));
    it.publish(1);
    const joiner = it.socket(0);
    await it.replay(joiner);
    joiner.data.session.closed = true;
    it.publish(...range(2, 10));
    expect(joiner.messageIds).toEqual(range(1, 10));
    expect(joiner.topics.size).toBe(0);
  });
});
