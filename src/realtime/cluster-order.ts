// With other instances, messages are published in the order the database committed them: the bus's order. This
// is that order (one bus task at a time, retried until it succeeds), the wait for this instance's own messages'
// notifications, and the catch-up after the bus listener was away.
import type { Author } from "../messages/events.ts";
import type { MessageRecord, MessageWithAuthor, Store } from "../store/store.ts";
import { type BusMessage, busMessages } from "./bus.ts";
import { BUS_WAIT_MS, type Watermarks } from "./join-replay.ts";
import type { Publisher } from "./publisher.ts";
import type { SocketRegistry } from "./sockets.ts";

/** How long a bus task whose database read failed waits before it is tried again. */
const BUS_RETRY_MS = 200;
/** How far before the listener last heard anything a reconnect reads edits and deletes from (clock differences). */
const CHANGES_MARGIN_MS = 30_000;

type Stored = { record: MessageRecord; author: Author };

export interface ClusterOrder {
  /** `newest`: the highest message id stored before this instance listened; nothing up to it is published here. */
  start(newest: number): void;
  /**
   * Every message of the room at or below this has been published here, or never will be (stored before the room
   * had sockets here): a joiner whose history goes further publishes the rest itself (join-replay.ts).
   */
  publishedUpTo(roomId: number): number;
  /** Stored messages, published here in id order, each unless it went out already. */
  publish(messages: readonly MessageWithAuthor[]): void;
  /** This instance's commit: published now, or when its notification comes (another instance committed between). */
  stored(stored: readonly Stored[]): void;
  /** A message notification from the bus: `own` when this instance committed them (they come back to it too). */
  notified(items: readonly BusMessage[], own: boolean): void;
  /**
   * Bus work, one task at a time in the bus's order. A task whose read fails (the database is away) is tried
   * again, not skipped: the tasks after it would move the watermark past its messages, losing them here for
   * good. Tasks start from the watermarks, so a second try publishes nothing twice.
   */
  sequence(task: () => Promise<void> | void): void;
  /** Runs a task until it succeeds (or the order stops), BUS_RETRY_MS between tries. */
  untilDone(task: () => Promise<void> | void): Promise<void>;
  /** The messages, edits and deletes of the rooms here committed while the listener was away, read again. */
  catchUp(heardAt: number): void;
  stop(): void;
}

export function createClusterOrder(deps: {
  clustered: boolean;
  store: Store;
  sockets: SocketRegistry;
  watermarks: Watermarks;
  publisher: Publisher;
}): ClusterOrder {
  const { clustered, store, sockets, watermarks, publisher } = deps;
  /** This instance's messages awaiting their own notification, which says when to publish them. */
  const ownPending = new Map<number, Stored>();
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
   * Every message committed with an id at or below this has been published here (or had no sockets to go to). Ids
   * are taken under the store's insert lock, one batch after another, so in clustered mode a batch whose first id
   * is just above it has nothing of any instance's left to wait for: it is published at once, without its
   * notification's round trip.
   */
  let knownUpTo = 0;
  let inOrder: Promise<void> = Promise.resolve();
  let stopped = false;
  /**
   * Message notifications queued last in the sequence and not yet started: the next one joins them, and they are
   * read with one query. Under load the reads then keep pace with the other instances' commits, as the group
   * commit keeps pace with the senders (one read per notification fell behind: joiners, who wait for what their
   * history holds to be published here, waited seconds). Anything else queued after them closes the batch, so
   * the order of tasks is what it was.
   */
  let openBatch: { room: number; id: number; own: boolean; item: BusMessage }[] | undefined;

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
  const sequence = (task: () => Promise<void> | void) => {
    openBatch = undefined;
    inOrder = inOrder.then(() => untilDone(task));
  };

  function publishMessage(record: MessageRecord, author: Author): void {
    ownPending.delete(record.id);
    publisher.message(record, author);
  }
  const publishedUpTo = (roomId: number) => watermarks.upTo(roomId) ?? knownUpTo;
  const publishAll = (messages: readonly MessageWithAuthor[]) => {
    for (const m of messages) publishMessage(m, m.author);
  };

  return {
    sequence,
    untilDone,
    start(newest) {
      if (newest > knownUpTo) knownUpTo = newest;
    },

    publishedUpTo,

    publish(messages) {
      for (const m of messages) if (m.id > publishedUpTo(m.roomId)) publishMessage(m, m.author);
    },

    stored(stored) {
      if (!clustered) {
        for (const { record, author } of stored) publishMessage(record, author);
        knownUpTo = Math.max(knownUpTo, stored.at(-1)!.record.id);
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

    notified(notified, own) {
      const items = notified.map((item) => ({ room: item[0], id: item[1], own, item }));
      if (openBatch) return void openBatch.push(...items);
      const batch = items;
      sequence(async () => {
        if (openBatch === batch) openBatch = undefined;
        // Own ids wait until this instance's INSERT has returned them (see whenRegistered).
        await Promise.all(batch.map((item) => (item.own ? whenRegistered(item.id) : undefined)));
        const own: Stored[] = [];
        const remote: BusMessage[] = [];
        for (const { room, id, item } of batch) {
          const pending = ownPending.get(id);
          if (pending) own.push(pending);
          else if (sockets.has(room) && id > (watermarks.upTo(room) ?? 0)) remote.push(item);
        }
        const fetched = await busMessages(remote, (ids) => store.findMessagesByIds(ids));
        // Notifications arrive in commit order, which is id order.
        for (const { record, author } of [...own, ...fetched].sort((a, b) => a.record.id - b.record.id)) {
          publishMessage(record, author);
        }
        // A lost notification is caught up before the next is handled.
        for (const { id } of batch) if (id > knownUpTo) knownUpTo = id;
      });
      openBatch = batch;
    },

    catchUp(heardAt) {
      for (const roomId of sockets.rooms.keys()) {
        sequence(async () => {
          // A room with no watermark (nothing published to it since its sockets came): what they may have missed
          // came after knownUpTo (everything up to it was published here as it came), not since the room began.
          let after = publishedUpTo(roomId);
          // Until the room's last socket here has gone (and its watermark with it).
          while (sockets.has(roomId)) {
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
        const local = changes.filter((c) => sockets.has(c.roomId));
        const edited = new Map(
          (await store.findMessagesByIds(local.filter((c) => c.kind === "updated").map((c) => c.messageId))).map(
            (m) => [m.id, m],
          ),
        );
        for (const change of local) {
          const m = edited.get(change.messageId);
          if (change.kind === "deleted") publisher.deleted(change.roomId, change.messageId);
          else if (m) publisher.updated(m, m.author);
        }
      });
    },

    stop() {
      stopped = true;
    },
  };
}
