// The live side of one instance: its sockets, one pub/sub topic per room, presence, and the RoomEvents that turn
// stored, edited and deleted messages into frames. Every frame is serialised once and published once per
// instance; the fanout bus carries what other instances must publish to their own sockets.
import type { Server, ServerWebSocket } from "bun";
import type { Clock } from "../clock.ts";
import type { Author, RoomEvents } from "../messages/events.ts";
import { toMessageFrame } from "../messages/model.ts";
import type { MemberRecord, MessageRecord, MessageWithAuthor, Store, UserRecord } from "../store/store.ts";
import type { BusEvent, BusPerson, FanoutBus } from "./bus.ts";
import type { Presence, PresenceChange } from "./presence.ts";
import { CLOSE, frames, roomTopic, WS_LIMITS } from "./protocol.ts";

export interface Session {
  user: UserRecord;
  roomId: number;
  /** The `since=` of the handshake: history after this id instead of the last messages. */
  since?: number;
  /** Epoch ms when the token expires; the socket is closed with 1008 then. */
  expiresAt: number;
  joined: boolean;
  closed: boolean;
  lastTypingAt: number;
  expiryTimer?: ReturnType<typeof setTimeout>;
  /** Until the token has been checked again once the socket is tracked (Hub.track): frames wait for it. */
  admission?: Promise<boolean>;
}

export type LiveSocket = ServerWebSocket<{ session: Session }>;

/** Frames published to a room while a socket is loading its history; replayed to it before it subscribes. */
export interface Recorder {
  frames: { id: number | undefined; json: string }[];
  stop(): void;
}

export type Hub = ReturnType<typeof createHub>;

/**
 * The longest this instance waits on the bus: a joiner for a message to be published here, a notification for
 * its own INSERT's result, an own batch's entries for their notification (after that a catch-up or the
 * notification itself reads them from the database).
 */
export const BUS_WAIT_MS = 5_000;

/**
 * The longest a logout or role change waits for the other instances to say they closed the user's sockets. One
 * that does not answer by then (paused, or its listener away) closes them when it hears the event, or checks
 * every socket when its listener is back.
 */
export const REVOKE_WAIT_MS = 2_000;

/**
 * How long a deleted message's id is remembered, so that an edit of it read or made just before the delete is
 * not published after it (which would bring the message back in clients). Far longer than any such read takes.
 */
const DELETED_MEMORY_MS = 60_000;

/** How long a bus task whose database read failed waits before it is tried again. */
const BUS_RETRY_MS = 200;
/** How far before the listener last heard anything a reconnect reads edits and deletes from (clock differences). */
const CHANGES_MARGIN_MS = 30_000;

const updatedFrame = (record: MessageRecord, author: Author) => ({ ...toMessageFrame(record, author), type: "message_updated" as const });

/**
 * A room's `active_users` goes out at most once per this window: the first change sends it at once, the changes
 * inside the window are covered by one more list at its end. A join storm (everyone reconnecting after a restart)
 * then costs a few lists of n users, not n of them: O(n^2) bytes, 1.7 GB for a room of 500 users.
 */
export const ROSTER_WINDOW_MS = 100;

/**
 * What the hub tells the read caches: a room's messages changed; its members (or the room itself: deleted); anything
 * at all may have (roles, a missed bus).
 */
export interface Invalidation {
  room(roomId: number): void;
  members(roomId: number): void;
  everything(): void;
}

export interface HubDeps {
  presence: Presence;
  clock: Clock;
  bus: FanoutBus;
  store: Store;
  invalidate?: Invalidation;
  /** Gets every event from other instances too (the person sockets' channel)... */
  forward?: (event: BusEvent) => void;
  /** ...and is told when the bus listener is back after missing some. */
  forwardReconnected?: () => void;
}

export function createHub(deps: HubDeps) {
  const { presence, clock, bus, store } = deps;
  const invalidate = deps.invalidate ?? { room() {}, members() {}, everything() {} };
  let server: Pick<Server<unknown>, "publish"> | undefined;
  /** With other instances, messages are published in the order the database committed them: the bus's order. */
  const clustered = bus.status().kind !== "local";
  /** This instance's messages awaiting their own notification, which says when to publish them. */
  const ownPending = new Map<number, { record: MessageRecord; author: Author }>();
  /** Own notifications that beat their INSERT's result here (two connections): waiting for messagesStored. */
  const unregistered = new Map<number, () => void>();
  /** Own ids are registered in commit order; one at or below this and no longer pending is already settled. */
  let ownRegisteredUpTo = 0;
  const whenRegistered = (id: number) =>
    ownPending.has(id) || id <= ownRegisteredUpTo
      ? undefined
      : new Promise<void>((resolve) => {
          const timer = setTimeout(settle, BUS_WAIT_MS);
          function settle() {
            clearTimeout(timer);
            unregistered.delete(id);
            resolve();
          }
          unregistered.set(id, settle);
        });
  /**
   * Every message committed with an id at or below this has been published here (clustered mode). Ids are taken
   * under the store's insert lock, one batch after another, so a batch whose first id is just above it has
   * nothing of any instance's left to wait for: it is published at once, without its notification's round trip.
   */
  let knownUpTo = 0;
  let inOrder: Promise<void> = Promise.resolve();
  let stopped = false;
  /** Runs a task until it succeeds (or the hub stops), BUS_RETRY_MS between tries. */
  const untilDone = (task: () => Promise<void> | void) => {
    const attempt = async (): Promise<void> => {
      try {
        await task();
      } catch {
        if (stopped) return;
        await Bun.sleep(BUS_RETRY_MS);
        return attempt();
      }
    };
    return attempt();
  };
  /**
   * Bus work, one task at a time in the bus's order. A task whose read fails (the database is away) is tried
   * again, not skipped: the tasks after it would move the watermark past its messages, losing them here for
   * good. Tasks start from the watermarks, so a second try publishes nothing twice.
   */
  const sequence = (task: () => Promise<void> | void) => {
    openBatch = undefined;
    inOrder = inOrder.then(() => untilDone(task));
  };
  /**
   * Message notifications queued last in the sequence and not yet started: the next one joins them, and they are
   * read with one query. Under load the reads then keep pace with the other instances' commits, as the group
   * commit keeps pace with the senders (one read per notification fell behind: joiners, who wait for what their
   * history holds to be published here, waited seconds). Anything else queued after them closes the batch, so
   * the order of tasks is what it was.
   */
  let openBatch: { room: number; id: number; own: boolean }[] | undefined;
  const rooms = new Map<number, Set<LiveSocket>>();
  const users = new Map<number, Set<LiveSocket>>();
  const recorders = new Map<number, Set<Recorder>>();
  /** The highest message id published here per room with local sockets: nothing at or below it goes out twice. */
  const published = new Map<number, number>();
  const watermarkWaiters = new Map<number, { id: number; done(): void }[]>();
  let sweeper: ReturnType<typeof setInterval> | undefined;
  /** For /metrics; `delivered` is message frames published times the room's sockets here at that moment. */
  const counters = { published: 0, delivered: 0, slowConsumersClosed: 0 };

  function publish(roomId: number, frame: object | string, messageId?: number): void {
    const json = typeof frame === "string" ? frame : JSON.stringify(frame);
    counters.published++;
    if (messageId !== undefined) counters.delivered += rooms.get(roomId)?.size ?? 0;
    server?.publish(roomTopic(roomId), json);
    const active = recorders.get(roomId);
    if (active) for (const recorder of active) recorder.frames.push({ id: messageId, json });
  }

  /** Ids deleted lately, in two generations swapped every DELETED_MEMORY_MS / 2: each is kept 30 to 60 s. */
  let deletedNow = new Set<number>();
  let deletedBefore = new Set<number>();
  let deletedSince = clock();
  function publishDeleted(roomId: number, id: number): void {
    if (clock() - deletedSince > DELETED_MEMORY_MS / 2) {
      deletedBefore = deletedNow;
      deletedNow = new Set();
      deletedSince = clock();
    }
    deletedNow.add(id);
    publish(roomId, frames.deleted(id, roomId));
  }
  /** An edit goes out unless its message was deleted meanwhile (the edit and the delete made on two instances). */
  function publishUpdated(record: MessageRecord, author: Author): void {
    if (deletedNow.has(record.id) || deletedBefore.has(record.id)) return;
    publish(record.roomId, updatedFrame(record, author));
  }

  function publishMessage(record: MessageRecord, author: Author): void {
    ownPending.delete(record.id);
    const last = published.get(record.roomId);
    if (last !== undefined && record.id <= last) return;
    if (rooms.has(record.roomId)) published.set(record.roomId, record.id);
    publish(record.roomId, toMessageFrame(record, author), record.id);
    const waiting = watermarkWaiters.get(record.roomId);
    if (waiting) {
      for (const w of [...waiting]) if (w.id <= record.id) w.done();
    }
  }

  /**
   * Resolves once this room's messages up to `id` have been published here (a joiner's history may hold
   * messages committed but not yet published: it subscribes only after them, so it gets none twice).
   */
  function waitPublished(roomId: number, id: number): Promise<void> | undefined {
    const last = published.get(roomId);
    if (last === undefined || last >= id) return undefined;
    return new Promise((resolve) => {
      const waiter = {
        id,
        done() {
          clearTimeout(timer);
          const list = watermarkWaiters.get(roomId);
          if (list?.splice(list.indexOf(waiter), 1) && list.length === 0) watermarkWaiters.delete(roomId);
          resolve();
        },
      };
      const timer = setTimeout(waiter.done, BUS_WAIT_MS);
      let list = watermarkWaiters.get(roomId);
      if (!list) watermarkWaiters.set(roomId, (list = []));
      list.push(waiter);
    });
  }

  const publishAll = (messages: MessageWithAuthor[]) => {
    for (const m of messages) publishMessage(m, m.author);
  };

  /**
   * The seed's order: active_users then user_joined on a join; user_left then active_users on a leave. Inside a
   * room's roster window the list comes at the window's end instead (ROSTER_WINDOW_MS), after the joined frame.
   */
  async function announcePresence(roomId: number, change: "joined" | "left", user: { id: number; username: string }, at: number) {
    if (change === "left") {
      told.get(roomId)?.delete(user.id);
      publish(roomId, frames.left(user.username, new Date(at)));
    }
    await sendRoster(roomId);
    if (change === "joined") {
      told.get(roomId)?.set(user.id, user.username);
      publish(roomId, frames.joined(user.username, new Date(at)));
    }
  }

  /** Who the sockets here were last told is in each room (by lists, joins and leaves): what a resend compares with. */
  const told = new Map<number, Map<number, string>>();
  async function publishRoster(roomId: number): Promise<void> {
    const list = await presence.list(roomId);
    if (rooms.has(roomId)) told.set(roomId, new Map(list.map((u) => [u.user_id, u.username])));
    publish(roomId, frames.activeUsers(list));
  }

  /**
   * After the listener was away: the joins and leaves it missed, found by comparing the room's list with what
   * this instance last told the room (at the time of the resend, not when they happened), then the list.
   */
  async function resendPresence(roomId: number): Promise<void> {
    const list = await presence.list(roomId);
    // After the read: what the room was told meanwhile counts. Then the frames go out together, in the seed's order.
    const before = told.get(roomId);
    if (!rooms.has(roomId)) return;
    const now = new Date(clock());
    const present = new Set(list.map((u) => u.user_id));
    for (const [id, username] of before ?? []) if (!present.has(id)) publish(roomId, frames.left(username, now));
    told.set(roomId, new Map(list.map((u) => [u.user_id, u.username])));
    publish(roomId, frames.activeUsers(list));
    for (const u of list) if (before && !before.has(u.user_id)) publish(roomId, frames.joined(u.username, now));
  }

  /** Rooms inside a roster window, and whether a change since the window's list is still to be sent. */
  const rosterWindows = new Map<number, { due: boolean }>();
  function sendRoster(roomId: number): Promise<void> | undefined {
    const window = rosterWindows.get(roomId);
    if (window) {
      window.due = true;
      return undefined;
    }
    const opened = { due: false };
    rosterWindows.set(roomId, opened);
    const closeLater = () =>
      setTimeout(() => {
        if (!opened.due || stopped) return void rosterWindows.delete(roomId);
        opened.due = false;
        // The list read now sees every change made inside the window; it opens the next window.
        publishRoster(roomId).catch(() => {}).finally(closeLater);
      }, ROSTER_WINDOW_MS).unref?.();
    return publishRoster(roomId).finally(closeLater);
  }

  /**
   * Everything this instance may have missed while its bus listener was away: the messages, read again from the
   * database, and what the other lost events changed (recheckSessions).
   */
  function catchUp(heardAt: number): void {
    invalidate.everything();
    for (const roomId of rooms.keys()) {
      sequence(async () => {
        // A room whose sockets are all still loading their history has no watermark: what they may have missed
        // came after knownUpTo (everything up to it was published here as it came), not since the room began.
        let after = published.get(roomId) ?? knownUpTo;
        // Until the room's last socket here has gone (and its watermark with it).
        while (rooms.has(roomId)) {
          const page = await store.listMessages(roomId, { after, limit: 500 });
          publishAll(page);
          if (page.length < 500) return;
          after = page.at(-1)!.id;
        }
      });
    }
    // Edits and deletes behind the messages they change. The log is read by time, from a little before the
    // listener last heard anything (clocks of several machines); one told twice changes nothing for a client.
    sequence(async () => {
      const changes = (await store.changesSince?.(new Date(heardAt - CHANGES_MARGIN_MS))) ?? [];
      const local = changes.filter((c) => rooms.has(c.roomId));
      const edited = new Map((await store.findMessagesByIds(local.filter((c) => c.kind === "updated").map((c) => c.messageId))).map((m) => [m.id, m]));
      for (const change of local) {
        const m = edited.get(change.messageId);
        if (change.kind === "deleted") publishDeleted(change.roomId, change.messageId);
        else if (m) publishUpdated(m, m.author);
      }
    });
    // Beside the bus's order, not in it: with many users it takes a while, and live messages need not wait for it.
    void untilDone(recheckSessions);
  }

  /**
   * The events other than messages are not kept anywhere to be read again, but what they change is: after a
   * reconnect every local socket is checked as those events would have checked it. A room deleted meanwhile
   * closes its sockets (4404); a token revoked meanwhile (logout, role change, user deleted) closes its user's
   * sockets (1008); a member removed meanwhile from a private room closes theirs there (4403); and each room hears
   * the joins and leaves made elsewhere, then its list (resendPresence). (Edits and deletes are read from the store's
   * change log in catchUp; typing that went out meanwhile is lost, and so are member_added / member_removed frames.)
   */
  async function recheckSessions(): Promise<void> {
    const existing = new Map((await store.listRooms()).map((room) => [room.id, room]));
    for (const roomId of [...rooms.keys()]) if (!existing.has(roomId)) closeRoom(roomId);
    await Promise.all(
      [...rooms].flatMap(([roomId, sockets]) =>
        existing.get(roomId)?.visibility === "private"
          ? [...sockets].map(async (ws) => {
              const userId = ws.data.session.user.id;
              if (!(await store.findMemberRole(roomId, userId))) closeMember(roomId, userId);
            })
          : [],
      ),
    );
    await Promise.all(
      [...users].map(async ([userId, sockets]) => {
        const user = await store.findUserById(userId);
        for (const ws of [...sockets]) {
          if (user?.tokenVersion !== ws.data.session.user.tokenVersion) ws.close(CLOSE.POLICY, "token revoked");
        }
      }),
    );
    await Promise.all([...rooms.keys()].map((roomId) => resendPresence(roomId)));
  }

  function onBusEvent(event: BusEvent): void {
    // Our own message notifications come back to us (they set the order); anything else of ours does not.
    if (event.origin === bus.instanceId && event.kind !== "messages") return;
    deps.forward?.(event);
    switch (event.kind) {
      case "messages": {
        for (const [room] of event.items) invalidate.room(room);
        const mine = event.origin === bus.instanceId;
        const items = event.items.map(([room, id]) => ({ room, id, own: mine }));
        if (openBatch) return void openBatch.push(...items);
        const batch = items;
        sequence(async () => {
          if (openBatch === batch) openBatch = undefined;
          // Own ids wait until this instance's INSERT has returned them (see whenRegistered).
          await Promise.all(batch.map((item) => (item.own ? whenRegistered(item.id) : undefined)));
          const own: { record: MessageRecord; author: Author }[] = [];
          const remote: number[] = [];
          for (const { room, id } of batch) {
            const pending = ownPending.get(id);
            if (pending) own.push(pending);
            else if (rooms.has(room) && id > (published.get(room) ?? 0)) remote.push(id);
          }
          const fetched: { record: MessageRecord; author: Author }[] = (await store.findMessagesByIds(remote)).map(
            (m) => ({ record: m, author: m.author }),
          );
          // Notifications arrive in commit order, which is id order.
          for (const { record, author } of [...own, ...fetched].sort((a, b) => a.record.id - b.record.id)) {
            publishMessage(record, author);
          }
          // A lost notification is caught up before the next is handled.
          for (const { id } of batch) if (id > knownUpTo) knownUpTo = id;
        });
        openBatch = batch;
        return;
      }
      // Edits and deletes wait their turn behind the messages they change (and a failed read is tried again).
      case "updated":
        invalidate.room(event.room);
        sequence(async () => {
          if (!rooms.has(event.room)) return;
          const [m] = await store.findMessagesByIds([event.id]);
          if (m) publishUpdated(m, m.author);
        });
        return;
      case "frame":
        publish(event.room, event.frame);
        return;
      case "deleted":
        invalidate.room(event.room);
        sequence(() => publishDeleted(event.room, event.id));
        return;
      case "presence":
        // A departure of someone still here is stale: this instance was taken for dead (paused past the TTL) and
        // puts its users back (see presence-postgres.ts); its own sockets never saw them leave.
        if (event.change === "left" && joinedHere(event.room, event.user)) return;
        if (rooms.has(event.room)) {
          void announcePresence(event.room, event.change, { id: event.user, username: event.username }, event.at).catch(() => {});
        }
        return;
      case "room_deleted":
        invalidate.room(event.room);
        invalidate.members(event.room);
        closeRoom(event.room);
        return;
      case "members":
        membersChanged(event.room, event);
        return;
      case "read":
        sendToUser(event.user, JSON.stringify(frames.read(event.room, event.message)));
        return;
      case "revoke":
        invalidate.everything();
        closeUser(event.user, CLOSE.POLICY, "token revoked");
        bus.send({ kind: "revoked", ref: event.ref });
        return;
      case "revoked": {
        const waiting = revocations.get(event.ref);
        if (waiting?.delete(event.origin) && waiting.size === 0) waiting.done();
        return;
      }
    }
  }

  const add = <K>(map: Map<K, Set<LiveSocket>>, key: K, ws: LiveSocket) => {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(ws);
  };
  const remove = <K>(map: Map<K, Set<LiveSocket>>, key: K, ws: LiveSocket) => {
    const set = map.get(key);
    if (set?.delete(ws) && set.size === 0) map.delete(key);
  };

  // One timer for all sockets: Bun's publish never blocks, so a reader that stops reading grows its buffer.
  function sweep() {
    for (const sockets of rooms.values()) {
      for (const ws of sockets) {
        if (ws.getBufferedAmount() > WS_LIMITS.sendBufferBytes) {
          counters.slowConsumersClosed++;
          ws.close(CLOSE.TRY_AGAIN_LATER, "too slow to keep up; reconnect with since");
        }
      }
    }
  }

  function closeRoom(roomId: number) {
    for (const ws of [...(rooms.get(roomId) ?? [])]) ws.close(CLOSE.ROOM_DELETED, "room deleted");
  }

  function closeMember(roomId: number, userId: number) {
    for (const ws of [...(rooms.get(roomId) ?? [])]) {
      if (ws.data.session.user.id === userId) ws.close(CLOSE.REMOVED_FROM_ROOM, "removed from the room");
    }
  }

  /** Who may read the room is decided again; the room is told; a removed member's sockets there close. */
  function membersChanged(roomId: number, change: { added?: BusPerson; removed?: BusPerson }) {
    invalidate.members(roomId);
    if (change.added) publish(roomId, frames.memberAdded(change.added.id, change.added.username));
    if (change.removed) {
      publish(roomId, frames.memberRemoved(change.removed.id, change.removed.username));
      closeMember(roomId, change.removed.id);
    }
  }

  function sendToUser(userId: number, json: string, except?: object) {
    for (const ws of users.get(userId) ?? []) if (ws !== except && !ws.data.session.closed) ws.send(json);
  }

  function closeUser(userId: number, code: number, reason: string) {
    for (const ws of [...(users.get(userId) ?? [])]) {
      // Frames already received but not yet handled are dropped from now on, not stored.
      ws.data.session.closed = true;
      ws.close(code, reason);
    }
  }

  /**
   * The token re-check of sockets just tracked (see track), per user: one read at a time, and the sockets tracked
   * while one runs share the next, which starts after they were all tracked (what makes the check sound). A
   * reconnect storm of someone's hundred tabs costs two reads, not a hundred.
   */
  const userReads = new Map<number, { tail: Promise<void>; queued?: Promise<UserRecord | undefined> }>();
  function readUserAfterTracked(userId: number): Promise<UserRecord | undefined> {
    let state = userReads.get(userId);
    if (!state) userReads.set(userId, (state = { tail: Promise.resolve() }));
    if (state.queued) return state.queued;
    const entry = state;
    const queued = entry.tail.then(() => {
      entry.queued = undefined;
      return store.findUserById(userId);
    });
    entry.queued = queued;
    const tail = queued.then(() => {}, () => {});
    entry.tail = tail;
    void tail.then(() => entry.tail === tail && userReads.get(userId) === entry && userReads.delete(userId));
    return queued;
  }

  /** Revocations this instance waits on: the instances yet to answer. */
  const revocations = new Map<string, Set<string> & { done(): void }>();

  /** Whether the user has a socket here that has joined the room (and so has not left it, whatever others say). */
  function joinedHere(roomId: number, userId: number): boolean {
    for (const ws of users.get(userId) ?? []) if (ws.data.session.roomId === roomId && ws.data.session.joined) return true;
    return false;
  }

  /** Departures being recorded: a graceful stop waits for them (the socket's close handler starts them too). */
  const departing = new Set<Promise<void>>();
  /** Stops tracking; the room hears user_left and active_users when it was the user's last socket anywhere. */
  function untrack(ws: LiveSocket): Promise<void> {
    const done = depart(ws).catch(() => {});
    departing.add(done);
    void done.finally(() => departing.delete(done));
    return done;
  }
  async function depart(ws: LiveSocket): Promise<void> {
    const { session } = ws.data;
    remove(rooms, session.roomId, ws);
    remove(users, session.user.id, ws);
    if (!rooms.has(session.roomId)) {
      published.delete(session.roomId);
      told.delete(session.roomId);
    }
    if (rooms.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
    if (!session.joined) return;
    session.joined = false;
    const at = clock();
    const { last } = await presence.leave(session.roomId, session.user.id, session.user.username, at);
    // The other instances were told by the presence itself; the room's sockets here, if any are left, now.
    if (last && rooms.has(session.roomId)) await announcePresence(session.roomId, "left", session.user, at);
  }

  const events: RoomEvents = {
    messagesStored(stored) {
      let room: number | undefined;
      for (const { record } of stored) if (record.roomId !== room) invalidate.room((room = record.roomId));
      if (!clustered) {
        for (const { record, author } of stored) publishMessage(record, author);
        return;
      }
      const first = stored[0]!.record.id;
      const last = stored.at(-1)!.record.id;
      if (last > ownRegisteredUpTo) ownRegisteredUpTo = last;
      if (knownUpTo === first - 1) {
        // Nothing committed before this batch is still unpublished here: no need to wait for the bus.
        knownUpTo = last;
        for (const { record, author } of stored) {
          publishMessage(record, author);
          unregistered.get(record.id)?.();
        }
        return;
      }
      // Otherwise (another instance committed in between, or an id was skipped) this batch goes out when its
      // notification arrives, in commit order with the other instances' messages. The acks do not wait for it:
      // they say "stored", which is true already. Entries the bus never settles (a room with no sockets here
      // left before a catch-up) are dropped after BUS_WAIT_MS; one timer per batch, not per message.
      for (const { record, author } of stored) {
        ownPending.set(record.id, { record, author });
        unregistered.get(record.id)?.();
      }
      setTimeout(() => {
        for (const { record } of stored) ownPending.delete(record.id);
      }, BUS_WAIT_MS).unref?.();
    },
    messageUpdated(record: MessageRecord, author: Author) {
      invalidate.room(record.roomId);
      publishUpdated(record, author);
      bus.send({ kind: "updated", room: record.roomId, id: record.id });
    },
    messageDeleted(record: MessageRecord) {
      invalidate.room(record.roomId);
      publishDeleted(record.roomId, record.id);
      bus.send({ kind: "deleted", room: record.roomId, id: record.id });
    },
    roomDeleted(roomId: number) {
      invalidate.room(roomId);
      invalidate.members(roomId);
      closeRoom(roomId);
      bus.send({ kind: "room_deleted", room: roomId });
    },
    readMoved(userId, roomId, messageId, except) {
      sendToUser(userId, JSON.stringify(frames.read(roomId, messageId)), except);
      bus.send({ kind: "read", user: userId, room: roomId, message: messageId });
    },
    membersChanged(roomId, { added, removed }) {
      const person = (m: MemberRecord | undefined) => m && { id: m.userId, username: m.username };
      const change = { added: person(added), removed: person(removed) };
      membersChanged(roomId, change);
      bus.send({ kind: "members", room: roomId, ...change });
    },
  };

  return {
    events,
    counters,
    bus,

    async start() {
      await bus.start({
        event: onBusEvent,
        reconnected(heardAt) {
          catchUp(heardAt);
          deps.forwardReconnected?.();
        },
      });
    },
    attach(target: Pick<Server<unknown>, "publish">) {
      server = target;
    },

    /**
     * Starts tracking a socket (before its history is loaded, so a room delete or revocation reaches it), then
     * checks its token version against the database: true when it may go on, false when it was closed. The
     * handshake's check ran before the socket could be found by a revocation; one that committed in between
     * (logout, role change, on any instance) shows in this read, and one that commits later finds the socket.
     */
    async track(ws: LiveSocket): Promise<boolean> {
      const { session } = ws.data;
      add(rooms, session.roomId, ws);
      add(users, session.user.id, ws);
      sweeper ??= setInterval(sweep, WS_LIMITS.sweepMs);
      sweeper.unref?.();
      const current = await readUserAfterTracked(session.user.id);
      if (current?.tokenVersion !== session.user.tokenVersion) ws.close(CLOSE.POLICY, "token revoked");
      return !session.closed && current?.tokenVersion === session.user.tokenVersion;
    },

    untrack,

    waitPublished,
    /** The highest message id published here for a room with local sockets (undefined: none yet). */
    publishedUpTo: (roomId: number) => published.get(roomId),

    record(roomId: number): Recorder {
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

    /**
     * Subscribes a socket whose history (up to message `coveredId`) has been sent, then announces it as the
     * seed does. Subscribing happens before the first await, so the caller can do it inside a cork.
     */
    async join(ws: LiveSocket, coveredId: number) {
      const { session } = ws.data;
      ws.subscribe(roomTopic(session.roomId));
      session.joined = true;
      // The room's first socket here: later copies of what its history held are not published again.
      if (!published.has(session.roomId)) published.set(session.roomId, coveredId);
      const at = clock();
      const { first } = await presence.join(session.roomId, session.user.id, session.user.username, at);
      if (first) {
        await announcePresence(session.roomId, "joined", session.user, at);
      } else if (!session.closed) {
        // Another tab of someone already here: only the new socket needs the list.
        ws.send(JSON.stringify(frames.activeUsers(await presence.list(session.roomId))));
      }
    },

    /** Relays a typing notice to everyone in the room but the typist, on every instance. */
    typing(ws: LiveSocket) {
      const { session } = ws.data;
      const frame = JSON.stringify(frames.typing(session.user.id, session.user.username));
      ws.publish(roomTopic(session.roomId), frame);
      bus.send({ kind: "frame", room: session.roomId, frame });
    },

    /**
     * Closes a user's sockets here and on every other instance (logout, role change); resolves once every other
     * live instance has said it closed them (at most REVOKE_WAIT_MS), so no socket of theirs posts after the
     * change has returned. Sockets still opening check the token version themselves (track).
     */
    async revoke(userId: number): Promise<void> {
      invalidate.everything();
      closeUser(userId, CLOSE.POLICY, "token revoked");
      const ref = crypto.randomUUID();
      const peers = await presence.peers?.().catch(() => []);
      if (!peers?.length) return void bus.send({ kind: "revoke", user: userId, ref });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, REVOKE_WAIT_MS);
        function done() {
          clearTimeout(timer);
          revocations.delete(ref);
          resolve();
        }
        revocations.set(ref, Object.assign(new Set(peers), { done }));
        bus.send({ kind: "revoke", user: userId, ref });
      });
    },

    /** What the cluster presence finds (the other instances were told by it): announced to the sockets here. */
    presenceHandlers: {
      /** Users of an instance that died without saying goodbye left their rooms. */
      expired(gone: PresenceChange[]) {
        for (const { roomId, userId, username, at } of gone) {
          if (rooms.has(roomId)) void announcePresence(roomId, "left", { id: userId, username }, at).catch(() => {});
        }
      },
      /** This instance's users are back after it was taken for dead; its sockets never saw them leave. */
      restored(roomIds: number[]) {
        for (const roomId of roomIds) if (rooms.has(roomId)) void sendRoster(roomId)?.catch(() => {});
      },
    },

    stop() {
      stopped = true;
      return bus.stop();
    },

    /** Closes every socket; resolves once their departures are recorded and told to the other instances. */
    closeAll(code: number, reason: string): Promise<unknown> {
      for (const sockets of [...rooms.values()]) {
        for (const ws of [...sockets]) {
          ws.data.session.closed = true;
          ws.close(code, reason);
          void untrack(ws);
        }
      }
      return Promise.all(departing);
    },

    get socketCount() {
      let n = 0;
      for (const sockets of rooms.values()) n += sockets.size;
      return n;
    },
    get roomCount() {
      return rooms.size;
    },
  };
}
