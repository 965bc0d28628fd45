// Rooms: public rooms (admins make them), private rooms (anyone; owners manage members) and direct rooms (one per
// pair of people). Every read goes through the access control in access.ts.
import type { Clock } from "../clock.ts";
import { AppError } from "../errors.ts";
import type { RoomEvents } from "../messages/events.ts";
import { assertStorableText } from "../messages/model.ts";
import {
  ConflictError,
  MissingReferenceError,
  type MemberRecord,
  type RoomActivity,
  type RoomListing,
  type Store,
  type UserRecord,
  type Visibility,
} from "../store/store.ts";
import type { RoomAccessControl } from "./access.ts";

export type RoomService = ReturnType<typeof createRoomService>;

export function createRoomService(deps: { store: Store; clock: Clock; events: RoomEvents; access: RoomAccessControl }) {
  const { store, clock, events, access } = deps;

  async function listing(user: UserRecord, roomId: number): Promise<RoomListing> {
    const [room] = await store.listRoomListings({ readerId: user.id, all: true, roomId });
    if (!room) throw new AppError("ROOM_NOT_FOUND");
    return room;
  }

  /** A private room whose members `user` may change (public and direct rooms have none to change). */
  async function membersRoom(user: UserRecord, roomId: number, mode: "read" | "manage" | "leave") {
    // Admins manage any room's members, member or not; everyone else must first be able to see the room.
    const granted =
      mode === "manage" && user.role === "admin" ? await access.manage(user, roomId) : await access.read(user, roomId);
    if (granted.room.visibility === "public") throw new AppError("ROOM_IS_PUBLIC");
    if (granted.room.kind === "direct" && mode !== "read") throw new AppError("ROOM_IS_DIRECT");
    if (mode === "manage" && user.role !== "admin" && granted.role !== "owner") throw new AppError("FORBIDDEN");
    return granted;
  }

  /** Removes a member and tells the room (and everyone, when it empties and goes); false when not a member. */
  async function removeAndAnnounce(roomId: number, userId: number): Promise<boolean> {
    const leaving = (await store.listMembers(roomId)).find((m) => m.userId === userId);
    if (!leaving) return false;
    const removal = await store.removeMember(roomId, userId);
    if (!removal.removed) return false;
    events.membersChanged(roomId, { removed: leaving, newOwner: removal.newOwner ?? undefined });
    if (removal.roomDeleted) events.roomDeleted(roomId);
    return true;
  }

  return {
    /** Where `user` is in each room (read position, unread count, newest message), for the room JSON. */
    activity(user: UserRecord, list: readonly RoomListing[]): Promise<Map<number, RoomActivity>> {
      // Everything counts in a private or direct room one belongs to, read or not; a public room only once read.
      return store.roomActivity(
        user.id,
        list.map((room) => ({ id: room.id, countFromStart: room.readerRole !== null })),
      );
    },

    async create(
      user: UserRecord,
      input: { name: string; description?: string | null; visibility?: Visibility },
    ): Promise<RoomListing> {
      const visibility = input.visibility ?? "public";
      if (visibility === "public" && user.role !== "admin") {
        throw new AppError("FORBIDDEN", {
          detail: "Only an admin can create a public room; anyone can create a private one",
        });
      }
      const name = input.name.trim();
      assertStorableText(name, "name");
      if (input.description) assertStorableText(input.description, "description");
      try {
        const room = await store.createRoom({
          name,
          description: input.description ?? null,
          createdAt: new Date(clock()),
          visibility,
          ownerId: user.id,
        });
        const owner = visibility === "private";
        const listing: RoomListing = {
          ...room,
          memberCount: owner ? 1 : null,
          readerRole: owner ? "owner" : null,
          directPeople: null,
        };
        events.roomCreated?.(listing, owner ? [user.id] : null);
        return listing;
      } catch (error) {
        if (error instanceof ConflictError) throw new AppError("ROOM_NAME_TAKEN");
        if (error instanceof MissingReferenceError) throw new AppError("INVALID_TOKEN", { reason: "TOKEN_REVOKED" });
        throw error;
      }
    },

    /** Public rooms and the user's private and direct rooms; with `all`, an admin's view of every room. */
    async list(user: UserRecord, all = false): Promise<RoomListing[]> {
      if (all && user.role !== "admin") throw new AppError("FORBIDDEN");
      return store.listRoomListings({ readerId: user.id, all });
    },

    async get(user: UserRecord, id: number): Promise<RoomListing> {
      await access.read(user, id);
      return listing(user, id);
    },

    /** Admins delete any room; owners their private room. */
    async remove(user: UserRecord, id: number): Promise<void> {
      const { room } = await access.manage(user, id);
      if (room.kind === "direct" && user.role !== "admin") throw new AppError("FORBIDDEN");
      if (!(await store.deleteRoom(id))) throw new AppError("ROOM_NOT_FOUND");
      events.roomDeleted(id);
    },

    async members(user: UserRecord, roomId: number): Promise<MemberRecord[]> {
      await membersRoom(user, roomId, "read");
      return store.listMembers(roomId);
    },

    /** Owners and admins add by exact username (ignoring case); adding a member again changes nothing. */
    async addMember(
      user: UserRecord,
      roomId: number,
      username: string,
    ): Promise<{ member: MemberRecord; created: boolean }> {
      await membersRoom(user, roomId, "manage");
      const invitee = await store.findUserByUsername(username);
      if (!invitee) throw new AppError("USER_NOT_FOUND");
      let added;
      try {
        added = await store.addMember(roomId, invitee.id, new Date(clock()));
      } catch (error) {
        if (error instanceof MissingReferenceError) throw new AppError("ROOM_NOT_FOUND");
        throw error;
      }
      if (added.created) events.membersChanged(roomId, { added: added.member });
      return added;
    },

    /** Owners and admins remove anyone; a member removes themselves (leaves). */
    async removeMember(user: UserRecord, roomId: number, userId: number): Promise<void> {
      await membersRoom(user, roomId, userId === user.id ? "leave" : "manage");
      if (!(await removeAndAnnounce(roomId, userId))) throw new AppError("MEMBER_NOT_FOUND");
    },

    /**
     * A deleted account leaves every private room it was in, as if it had left each itself (ownership passes on,
     * an emptied room goes). Its direct rooms stay, for the other person.
     */
    async leaveAll(userId: number): Promise<void> {
      for (const room of await store.listRoomListings({ readerId: userId })) {
        if (room.visibility === "private" && room.kind === "room") await removeAndAnnounce(room.id, userId);
      }
    },

    /** The one direct room of `user` and `username`, made on first call (`created`), whoever asks first. */
    async openDirect(user: UserRecord, username: string): Promise<{ room: RoomListing; created: boolean }> {
      const other = await store.findUserByUsername(username);
      if (!other) throw new AppError("USER_NOT_FOUND");
      if (other.id === user.id) throw new AppError("DIRECT_WITH_SELF");
      try {
        const { room, created } = await store.openDirectRoom([user.id, other.id], new Date(clock()));
        const direct = await listing(user, room.id);
        if (created) events.roomCreated?.(direct, [user.id, other.id]);
        return { room: direct, created };
      } catch (error) {
        if (error instanceof MissingReferenceError) throw new AppError("USER_NOT_FOUND");
        throw error;
      }
    },
  };
}
