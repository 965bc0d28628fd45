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
  stop(): void;
}

/**
 * The highest message id published here per room with local sockets: nothing at or below it goes out twice. It
 * moves only when a message is published here (a client's `since` or a history read never moves it), so every
 * message after it is still to be published here.
 */
export interface Watermarks {
  /** Undefined: no message of the room has been published here since it last had no sockets here. */
  upTo(roomId: number): number | undefined;
  /** Before a message is published: false when it has been already; moves the mark when the room has sockets here. */
  advance(roomId: number, id: number, roomHere: boolean): boolean;
  /**
   * Subscribes a socket that has the room's messages up to `coveredId`. When some of them are not yet published
   * here (the bus runs behind the database; or `since` is ahead of this instance), it is sent the room's frames
   * one by one, minus those messages, until a message at or past `coveredId` is published; then it subscribes. So
   * it waits for nothing and gets nothing twice.
   */
  subscribe(ws: LiveSocket, coveredId: number): void;
  /** The room's last socket here has gone. */
  forget(roomId: number): void;
  /** `owner`: the loading socket, which is not sent its own frames (typing). */
  record(roomId: number, owner?: object): Recorder;
  /** A frame just published to the room (by `from`, to the others, for typing): recorders and unsubscribed sockets get it. */
  recorded(roomId: number, messageId: number | undefined, json: string, from?: object): void;
}

/**
 * The longest this instance waits on the bus: a notification for its own INSERT's result, an own batch's entries
 * for their notification (after that a catch-up or the notification itself reads them from the database).
 */
export const BUS_WAIT_MS = 5_000;

/** What hears a room's published frames: a recorder (a socket loading its history) or a socket not yet subscribed. */
type Listener = (id: number | undefined, json: string, from: object | undefined) => void;

export function createWatermarks(): Watermarks {
  const published = new Map<number, number>();
  const listeners = new Map<number, Set<Listener>>();
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
    subscribe(ws, coveredId) {
      const { session } = ws.data;
      const topic = roomTopic(session.roomId);
      const mark = published.get(session.roomId) ?? 0;
      if (mark >= coveredId) return void ws.subscribe(topic);
      const stop = listen(session.roomId, (id, json, from) => {
        if (session.closed) return stop();
        if (from === ws) return;
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
    },
    record(roomId, owner) {
      const frames: Recorder["frames"] = [];
      const stop = listen(
        roomId,
        (id, json, from) => void (from === undefined || from !== owner ? frames.push({ id, json }) : undefined),
      );
      return { frames, stop };
    },
    recorded(roomId, id, json, from) {
      const active = listeners.get(roomId);
      if (active) for (const listener of [...active]) listener(id, json, from);
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
  const recorder = watermarks.record(session.roomId, ws);
  let joined: Promise<void> | undefined;
  try {
    const page =
      since === undefined
        ? (await store.listMessages(session.roomId, { limit: WS_LIMITS.historyOnJoin, skip: 0 })).reverse()
        : await store.listMessages(session.roomId, { limit: WS_LIMITS.syncMax + 1, after: since });
    const complete = page.length <= WS_LIMITS.syncMax;
    const history = complete ? page : page.slice(0, WS_LIMITS.syncMax);
    // Messages published here while the page loaded, after it, are in the recorder: the mark moves only by
    // publishing, so none of the room's messages after the page is skipped here.
    const lastId = complete ? Math.max(since ?? 0, history.at(-1)?.id ?? 0) : Number.POSITIVE_INFINITY;
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
