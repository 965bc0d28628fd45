// What a joining socket is sent before it subscribes: its history, read from the store and lined up with what
// this instance has published to the room (the watermarks) and is publishing meanwhile (the recorders), so it
// gets every message once and in id order.
import { toMessageFrame } from "../messages/model.ts";
import type { MessageWithAuthor, Store } from "../store/store.ts";
import { frames, WS_LIMITS } from "./protocol.ts";
import type { LiveSocket } from "./sockets.ts";

/** Frames published to a room while a socket is loading its history; replayed to it before it subscribes. */
export interface Recorder {
  frames: { id: number | undefined; json: string }[];
  stop(): void;
}

/**
 * The highest message id published here per room with local sockets: nothing at or below it goes out twice. It moves
 * only by publishing, through the room's messages in id order (the bus's order, a catch-up, a joiner's gap), so
 * every message of the room at or below it has been published here.
 */
export interface Watermarks {
  /** Undefined: the room has no watermark here (no message published since a socket here came). */
  upTo(roomId: number): number | undefined;
  /** Before a message is published: false when it has been already; moves the mark when the room has sockets here. */
  advance(roomId: number, id: number, roomHere: boolean): boolean;
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

export function createWatermarks(): Watermarks {
  const published = new Map<number, number>();
  const recorders = new Map<number, Set<Recorder>>();
  return {
    upTo: (roomId) => published.get(roomId),
    advance(roomId, id, roomHere) {
      const last = published.get(roomId);
      if (last !== undefined && id <= last) return false;
      if (roomHere) published.set(roomId, id);
      return true;
    },
    forget(roomId) {
      published.delete(roomId);
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
  /** Every message of the room at or below this has been published here, or never will be (see ClusterOrder). */
  publishedUpTo(roomId: number): number;
  /** Publishes stored messages of one room here, in id order, each unless it went out already. */
  publish(messages: readonly MessageWithAuthor[]): void;
  /** Subscribes the socket whose history has been sent; called inside the cork. */
  join(ws: LiveSocket): Promise<void>;
}

const send = (ws: LiveSocket, frame: object) => ws.send(JSON.stringify(frame));

/**
 * Makes this instance's stream of the room reach `upTo`: the room's messages up to it that are stored but not yet
 * published here (the bus trails the database under load) are published now, from the joiner's page where it has
 * them and read otherwise. `page` holds every message of the room after `pageAfter`, up to its last. The bus's copy
 * of them comes later and is not published again (the watermark), so nobody waits for the bus.
 */
async function publishGap(
  deps: JoinReplayDeps,
  roomId: number,
  upTo: number,
  page: readonly MessageWithAuthor[],
  pageAfter: number,
): Promise<void> {
  let after = deps.publishedUpTo(roomId);
  while (after < pageAfter && after < upTo) {
    const read = await deps.store.listMessages(roomId, { after, limit: GAP_PAGE });
    const before = read.filter((m) => m.id <= Math.min(pageAfter, upTo));
    deps.publish(before);
    if (before.length < GAP_PAGE) break;
    after = before.at(-1)!.id;
  }
  deps.publish(page.filter((m) => m.id <= upTo));
}
/** Messages per read when a joiner publishes what its instance had not yet published. */
const GAP_PAGE = 500;

/**
 * `recorder`: started when the socket opened (every frame published to the room since). `admitted`: the token check
 * of Hub.track, read beside the history; nothing is sent before it passes.
 */
export async function replayHistory(
  deps: JoinReplayDeps,
  ws: LiveSocket,
  recorder: Recorder,
  admitted: Promise<boolean>,
): Promise<void> {
  const { store } = deps;
  const { session } = ws.data;
  const { since, roomId } = session;
  const page =
    since === undefined
      ? (await store.listMessages(roomId, { limit: WS_LIMITS.historyOnJoin, skip: 0 })).reverse()
      : await store.listMessages(roomId, { limit: WS_LIMITS.syncMax + 1, after: since });
  const complete = page.length <= WS_LIMITS.syncMax;
  const history = complete ? page : page.slice(0, WS_LIMITS.syncMax);
  // The page holds the room's messages after this id, up to its last.
  const pageAfter = since ?? (history[0] ? history[0].id - 1 : 0);
  // What the history covers: with `since` and nothing newer, up to `since`. Messages up to it that this instance
  // has not published yet are published now, for the others (with a `since` past every message: all there are).
  const lastId = history.at(-1)?.id ?? (since === undefined ? 0 : since);
  await publishGap(deps, roomId, lastId, history, pageAfter);
  if (!(await admitted) || session.closed) return;
  // Everything up to `lastId` is published here, and whatever went out since the socket opened is in the recorder.
  await ws.cork(() => {
    // Published after this socket opened but older than its page (more than a page came meanwhile): these go
    // first, so ids still rise. With `since`, the page already starts right after what the client has.
    const pageStart = pageAfter + 1;
    if (since === undefined) {
      for (const frame of recorder.frames) if (frame.id !== undefined && frame.id < pageStart) ws.send(frame.json);
    }
    for (const m of history) send(ws, toMessageFrame(m, m.author));
    if (since !== undefined) send(ws, frames.sync(complete));
    // Everything published while the page loaded, minus what the page already had (an incomplete page: the
    // client reads the rest, up to the newest, over HTTP).
    const sentUpTo = complete ? lastId : Number.POSITIVE_INFINITY;
    for (const frame of recorder.frames) if (frame.id === undefined || frame.id > sentUpTo) ws.send(frame.json);
    return deps.join(ws);
  });
}
