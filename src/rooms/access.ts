// Who may see a room, decided in one place for every route, the socket upgrade and the hub. To anyone who may not
// read a private or direct room it does not exist: "not yours" and "not there" are the same answer.
import type { Cache } from "../cache.ts";
import { AppError } from "../errors.ts";
import type { MemberRole, RoomRecord, Store, UserRecord } from "../store/store.ts";

export interface RoomAccess {
  room: RoomRecord;
  /** The user's role in a private or direct room; null when they are not a member (and in public rooms). */
  role: MemberRole | null;
}

/** Room and membership by room, then user: dropped per room when its members change or it is deleted. */
export type AccessCache = Cache<number, number, RoomAccess | undefined>;
/** Entries kept at most by the access cache (one per room and user asking). */
export const ACCESS_CACHE_ENTRIES = 100_000;

export type RoomAccessControl = ReturnType<typeof createRoomAccess>;

export function createRoomAccess(deps: { store: Store; cache?: AccessCache }) {
  const { store, cache } = deps;

  async function load(roomId: number, userId: number): Promise<RoomAccess | undefined> {
    const room = await store.findRoom(roomId);
    if (!room) return undefined;
    return { room, role: room.visibility === "public" ? null : ((await store.findMemberRole(roomId, userId)) ?? null) };
  }

  /** The room and the user's role in it, or undefined when there is no such room (whoever asks). */
  const lookup = (user: Pick<UserRecord, "id">, roomId: number) =>
    cache ? cache.read(roomId, user.id, () => load(roomId, user.id)) : load(roomId, user.id);

  const readable = (access: RoomAccess | undefined): access is RoomAccess =>
    access !== undefined && (access.room.visibility === "public" || access.role !== null);

  return {
    /** The room if `user` may read and post in it (public, or a member), else ROOM_NOT_FOUND. Reads memory when cached. */
    async read(user: Pick<UserRecord, "id">, roomId: number): Promise<RoomAccess> {
      const access = await lookup(user, roomId);
      if (!readable(access)) throw new AppError("ROOM_NOT_FOUND");
      return access;
    },

    /**
     * The room if `user` may manage it: admins any room, owners their own. A reader who may not manage gets
     * FORBIDDEN; anyone else ROOM_NOT_FOUND.
     */
    async manage(user: UserRecord, roomId: number): Promise<RoomAccess> {
      const access = await lookup(user, roomId);
      if (access && (user.role === "admin" || access.role === "owner")) return access;
      if (readable(access)) throw new AppError("FORBIDDEN");
      throw new AppError("ROOM_NOT_FOUND");
    },
  };
}
