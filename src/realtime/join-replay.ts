// What a joining socket is sent before it subscribes: its history, read from the store and lined up with what
// this instance has published to the room (the watermarks) and is publishing meanwhile (the recorders), so it
// gets every message once and in id order.
import { toMessageFrame } from "../messages/model.ts";
import type { Store } from "../store/store.ts";
import { frames, roomTopic, WS_LIMITS } from "./protocol.ts";
import type { LiveSocket } from "./sockets.ts";

/** Frames published to a room while a socket is loading its history; replayed to it before it subscribes. */
export interface Recorder {
  frames: { id: number | undefined; json: string }[];
  /**
   * Set when another socket's join put the room's first mark here while this one was loading (Watermarks.joined):
   * the messages up to it were never published here, so they are neither recorded nor coming.
   */
  markedUpTo?: number;
  stop(): void;
}

/** The highest message id published here per room with local sockets: nothing at or below it goes out twice. */
export interface Watermarks {
  /** Undefined: the room has no watermark here (no socket here has joined it yet). */
  upTo(roomId: number): number | undefined;
  /** Before a message is published: false when it has been already; moves the mark when the room has sockets here. */
  advance(roomId: number, id: number, roomHere: boolean): boolean;
  /** The room's first joiner here sets the mark to what its history covered; later copies are not published. */
  joined(roomId: number, coveredId: number): void;
  /**
   * Subscribes a socket that has the room's messages up to `coveredId`. When some of them are not yet published
   * here (the bus runs behind the database), it is sent the room's frames one by one, minus those messages, until
   * the last of them is published; then it subscribes. So it waits for nothing and gets nothing twice.
   */
  subscribe(ws: LiveSocket, coveredId: number): void;
  /** The room's last socket here has gone. */
  forget(roomId: number): void;
  record(roomId: number): Recorder;
  /** A frame just published to the room: the recorders there keep it. */
  recorded(roomId: number, messageId: number | undefined, json: string): void;
}

/**
 * The longest this instance waits on the bus: a notification for its own INSERT's result, an own batch's entries
 * for their notification (after that a catch-up or the notification itself reads them from the database).
 */
export const BUS_WAIT_MS = 5_000;

/** What hears a room's published frames: a recorder (a socket loading its history) or a socket not yet subscribed. */
type Listener = (id: number | undefined, json: string) => void;

export function createWatermarks(): Watermarks {
  const published = new Map<number, number>();
  const listeners = new Map<number, Set<Listener>>();
  const recorders = new Map<number, Set<Recorder>>();
  function listen(roomId: number, listener: Listener): () => void {
    let set = listeners.get(roomId);
    if (!set) listeners.set(roomId, (set = new Set()));
    set.add(listener);
    return () => {
      const set = listeners.get(roomId);
      if (set?.delete(listener) && set.size === 0) listeners.delete(roomId);
    };
  }
  return {
    upTo: (roomId) => published.get(roomId),
    advance(roomId, id, roomHere) {
      const last = published.get(roomId);
      if (last !== undefined && id <= last) return false;
      if (roomHere) published.set(roomId, id);
      return true;
    },
    joined(roomId, coveredId) {
      if (published.has(roomId)) return;
      published.set(roomId, coveredId);
      for (const recorder of recorders.get(roomId) ?? []) recorder.markedUpTo = coveredId;
    },
    subscribe(ws, coveredId) {
      const { session } = ws.data;
      const topic = roomTopic(session.roomId);
      const mark = published.get(session.roomId);
      if (mark === undefined || mark >= coveredId) return void ws.subscribe(topic);
      const stop = listen(session.roomId, (id, json) => {
        if (session.closed) return stop();
        if (id === undefined || id > coveredId) ws.send(json);
        // Published in id order: from the next frame on, the topic brings the socket what it lacks.
        if (id !== undefined && id >= coveredId) {
          stop();
          ws.subscribe(topic);
        }
      });
    },
    forget(roomId) {
      published.delete(roomId);
      listeners.delete(roomId);
      recorders.delete(roomId);
    },
    record(roomId) {
      const recorder: Recorder = {
        frames: [],
        stop() {
          stopListening();
          const set = recorders.get(roomId);
          if (set?.delete(recorder) && set.size === 0) recorders.delete(roomId);
        },
      };
      const stopListening = listen(roomId, (id, json) => void recorder.frames.push({ id, json }));
      let set = recorders.get(roomId);
      if (!set) recorders.set(roomId, (set = new Set()));
      set.add(recorder);
      return recorder;
    },
    recorded(roomId, id, json) {
      const active = listeners.get(roomId);
      if (active) for (const listener of [...active]) listener(id, json);
    },
  };
}

export interface JoinReplayDeps {
  store: Store;
  watermarks: Watermarks;
  /** Subscribes the socket whose history (up to `coveredId`) has been sent (Watermarks.subscribe); called inside the cork. */
  join(ws: LiveSocket, coveredId: number): Promise<void>;
}

const send = (ws: LiveSocket, frame: object) => ws.send(JSON.stringify(frame));

/**
 * `admitted`: the token check of Hub.track, read beside the history; nothing is sent before it passes. Messages
 * the history holds that are not yet published here do not hold the join up (see Watermarks.subscribe).
 */
export async function replayHistory(deps: JoinReplayDeps, ws: LiveSocket, admitted: Promise<boolean>): Promise<void> {
  const { store, watermarks } = deps;
  const { session } = ws.data;
  const { since } = session;
  const recorder = watermarks.record(session.roomId);
  let joined: Promise<void> | undefined;
  try {
    const page =
      since === undefined
        ? (await store.listMessages(session.roomId, { limit: WS_LIMITS.historyOnJoin, skip: 0 })).reverse()
        : await store.listMessages(session.roomId, { limit: WS_LIMITS.syncMax + 1, after: since });
    const complete = page.length <= WS_LIMITS.syncMax;
    const history = complete ? page : page.slice(0, WS_LIMITS.syncMax);
    // Another socket that joined first may have marked later messages as published here (its history held
    // them). They will not be published here, so this socket reads them itself. (Messages published here
    // while the page loaded are in the recorder.)
    let lastId = complete ? Math.max(since ?? 0, history.at(-1)?.id ?? 0) : Number.POSITIVE_INFINITY;
    for (let mark = recorder.markedUpTo; complete && mark !== undefined && mark > lastId; ) {
      const more = await store.listMessages(session.roomId, { after: lastId, limit: WS_LIMITS.syncMax });
      const upToMark = more.filter((m) => m.id <= mark!);
      history.push(...upToMark);
      lastId = upToMark.length === more.length && more.length === WS_LIMITS.syncMax ? more.at(-1)!.id : mark;
      mark = recorder.markedUpTo;
    }
    if (!(await admitted) || session.closed) return;
    joined = ws.cork(() => {
      // Published after this socket opened but older than its page (more than a page came meanwhile): these
      // go first, so ids still rise. Only when they reach the page: otherwise the page and what follows it are
      // all the socket gets. With `since`, the page already starts right after what the client has.
      const pageStart = history[0]?.id ?? lastId + 1;
      const mark = watermarks.upTo(session.roomId);
      if (since === undefined && (mark === undefined || mark >= pageStart)) {
        for (const frame of recorder.frames) if (frame.id !== undefined && frame.id < pageStart) ws.send(frame.json);
      }
      for (const m of history) send(ws, toMessageFrame(m, m.author));
      if (since !== undefined) send(ws, frames.sync(complete));
      // Everything published while the page loaded, minus what the page already had.
      for (const frame of recorder.frames) if (frame.id === undefined || frame.id > lastId) ws.send(frame.json);
      return deps.join(ws, complete ? lastId : (history.at(-1)?.id ?? 0));
    });
  } finally {
    recorder.stop();
  }
  await joined;
}
