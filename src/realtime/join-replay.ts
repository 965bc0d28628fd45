// What a joining socket is sent before it subscribes: its history, read from the store and lined up with what
// this instance has published to the room (the watermarks) and is publishing meanwhile (the recorders), so it
// gets every message once and in id order.
import { toMessageFrame } from "../messages/model.ts";
import type { Store } from "../store/store.ts";
import { frames, WS_LIMITS } from "./protocol.ts";
import type { LiveSocket } from "./sockets.ts";

/** Frames published to a room while a socket is loading its history; replayed to it before it subscribes. */
export interface Recorder {
  frames: { id: number | undefined; json: string }[];
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
  /** The room's last socket here has gone. */
  forget(roomId: number): void;
  /**
   * Resolves once this room's messages up to `id` have been published here (a joiner's history may hold
   * messages committed but not yet published: it subscribes only after them, so it gets none twice).
   */
  wait(roomId: number, id: number): Promise<void> | undefined;
  record(roomId: number): Recorder;
  /** A frame just published to the room: the recorders there keep it. */
  recorded(roomId: number, messageId: number | undefined, json: string): void;
}

/**
 * The longest this instance waits on the bus: a joiner for a message to be published here, a notification for
 * its own INSERT's result, an own batch's entries for their notification (after that a catch-up or the
 * notification itself reads them from the database).
 */
export const BUS_WAIT_MS = 5_000;

export function createWatermarks(): Watermarks {
  const published = new Map<number, number>();
  const waiters = new Map<number, { id: number; done(): void }[]>();
  const recorders = new Map<number, Set<Recorder>>();
  return {
    upTo: (roomId) => published.get(roomId),
    advance(roomId, id, roomHere) {
      const last = published.get(roomId);
      if (last !== undefined && id <= last) return false;
      if (roomHere) published.set(roomId, id);
      // Resolved now, continued after the publish that follows.
      for (const w of [...(waiters.get(roomId) ?? [])]) if (w.id <= id) w.done();
      return true;
    },
    joined(roomId, coveredId) {
      if (!published.has(roomId)) published.set(roomId, coveredId);
    },
    forget(roomId) {
      published.delete(roomId);
    },
    wait(roomId, id) {
      const last = published.get(roomId);
      if (last === undefined || last >= id) return undefined;
      return new Promise((resolve) => {
        const waiter = {
          id,
          done() {
            clearTimeout(timer);
            const list = waiters.get(roomId);
            if (list?.splice(list.indexOf(waiter), 1) && list.length === 0) waiters.delete(roomId);
            resolve();
          },
        };
        const timer = setTimeout(waiter.done, BUS_WAIT_MS);
        let list = waiters.get(roomId);
        if (!list) waiters.set(roomId, (list = []));
        list.push(waiter);
      });
    },
    record(roomId) {
      const recorder: Recorder = {
        frames: [],
        stop() {
          const set = recorders.get(roomId);
          if (set?.delete(recorder) && set.size === 0) recorders.delete(roomId);
        },
      };
      let set = recorders.get(roomId);
      if (!set) recorders.set(roomId, (set = new Set()));
      set.add(recorder);
      return recorder;
    },
    recorded(roomId, id, json) {
      const active = recorders.get(roomId);
      if (active) for (const recorder of active) recorder.frames.push({ id, json });
    },
  };
}

export interface JoinReplayDeps {
  store: Store;
  watermarks: Watermarks;
  /** Subscribes the socket whose history (up to `coveredId`) has been sent; called inside the cork. */
  join(ws: LiveSocket, coveredId: number): Promise<void>;
}

const send = (ws: LiveSocket, frame: object) => ws.send(JSON.stringify(frame));

/** `admitted`: the token check of Hub.track, read beside the history; nothing is sent before it passes. */
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
    await watermarks.wait(session.roomId, history.at(-1)?.id ?? 0);
    // Another socket that joined first may have marked later messages as published here (its history held
    // them). They will not be published again, so this socket reads them itself.
    let lastId = complete ? Math.max(since ?? 0, history.at(-1)?.id ?? 0) : Number.POSITIVE_INFINITY;
    for (let mark = watermarks.upTo(session.roomId); complete && mark !== undefined && mark > lastId; ) {
      const more = await store.listMessages(session.roomId, { after: lastId, limit: WS_LIMITS.syncMax });
      const upToMark = more.filter((m) => m.id <= mark!);
      history.push(...upToMark);
      lastId = upToMark.length === more.length && more.length === WS_LIMITS.syncMax ? more.at(-1)!.id : mark;
      mark = watermarks.upTo(session.roomId);
    }
    if (!(await admitted) || session.closed) return;
    joined = ws.cork(() => {
      // Published after this socket opened but older than its page (more than a page came meanwhile): these
      // go first, so ids still rise. With `since`, the page already starts right after what the client has.
      const pageStart = history[0]?.id ?? lastId + 1;
      if (since === undefined) {
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
