// What the HTTP side tells the live side. The realtime hub implements it; without sockets it is a no-op.
import type { MessageRecord } from "../store/store.ts";

export interface Author {
  id: number;
  username: string;
}

export interface RoomEvents {
  /**
   * Called once per commit, in id order, before anyone is told the messages are stored. With several
   * instances the broadcast may follow later, in commit order with theirs (see the hub).
   */
  messagesStored(messages: readonly { record: MessageRecord; author: Author }[]): void;
  messageUpdated(record: MessageRecord, author: Author): void;
  messageDeleted(record: MessageRecord): void;
  roomDeleted(roomId: number): void;
}
