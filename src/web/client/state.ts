// What the whole page shares: who is signed in, their rooms, and the room open now. Other modules read these as
// live bindings; an import cannot be assigned, so they change only through the setters here.
import type { Member, Room, User } from "./api.ts";
import type { RoomSocket } from "./room-socket.ts";
import type { Timeline } from "./timeline.ts";

export let me: User | null = null;
export let rooms: Room[] = [];

export interface OpenRoom {
  room: Room;
  timeline: Timeline;
  socket: RoomSocket;
  /** While a gap after a `sync` is open: the id everything up to which is here (live ones may be past the gap). */
  syncedUpTo: number | null;
  syncing: boolean;
  /** An earlier-history page came back short: there is nothing older. */
  reachedStart: boolean;
  typists: Map<number, { username: string; timer: ReturnType<typeof setTimeout> }>;
  lastTypingSent: number;
  /** The "new messages" divider goes before the first message by someone else after this id (null: none). */
  dividerAfter: number | null;
  /** The newest id this page has told the server it read. */
  readSent: number;
  /** The join's history has been shown: messages from now on are new, and announced. */
  live: boolean;
  /**
   * The room's newest message when it was opened (from the room list): a message past it is news even before the
   * join's active_users (which follows the presence's round trip), and means the history is all here.
   */
  newestAtJoin: number;
  /** Everything up to this id was on screen at the bottom of a focused window: the next unseen message is "new". */
  seenUpTo: number | null;
  /** A private or direct room's members, once loaded. */
  members: Member[] | null;
}

export let current: OpenRoom | null = null;

export function setMe(user: User | null): void {
  me = user;
}

export function setRooms(list: Room[]): void {
  rooms = list;
}

export function setCurrent(open: OpenRoom | null): void {
  current = open;
}

export function roomById(id: number): Room | undefined {
  return rooms.find((room) => room.id === id);
}
