// What the HTTP side tells the live side. The realtime hub implements it; without sockets it is a no-op.
import type { MemberRecord, MessageRecord, RoomListing } from "../store/store.ts";

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
  /**
   * A private room's members changed: who may read it is decided again on every instance, the room gets
   * `member_added` / `member_removed`, and a removed member's sockets in it close with 4403.
   */
  membersChanged(
    roomId: number,
    change: { added?: MemberRecord; removed?: MemberRecord; newOwner?: MemberRecord },
  ): void;
  /** A user's read position moved: their sockets (all but `except`) get a `read` frame, on every instance. */
  readMoved(userId: number, roomId: number, messageId: number, except?: object): void;
  /** A room was made: the people who can read it (null: everyone, a public room) hear of it on their person sockets. */
  roomCreated?(room: RoomListing, userIds: readonly number[] | null): void;
}
