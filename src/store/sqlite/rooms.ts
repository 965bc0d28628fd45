// Rooms and their members: public and private rooms, direct rooms of two people, and membership changes.
import type { Database } from "bun:sqlite";
import { and, asc, eq, sql } from "drizzle-orm";
import type { MemberRecord, MemberRole, NewRoom, RoomListing, RoomRecord, RoomQueries } from "../store.ts";
import { mapConstraint } from "./errors.ts";
import type { Db } from "./rows.ts";
import type { RoomPurger } from "./room-purge.ts";
import { readPositions, roomMembers, rooms, users } from "./schema.ts";

const p = sql.placeholder;

/** `purges` deletes a room at once and its messages in chunks (room-purge.ts). */
export function roomQueries(sqlite: Database, db: Db, purges: RoomPurger): RoomQueries {
  const roomColumns = {
    id: rooms.id,
    name: rooms.name,
    description: rooms.description,
    visibility: rooms.visibility,
    kind: rooms.kind,
    createdAt: rooms.createdAt,
  };
  const roomById = db
    .select(roomColumns)
    .from(rooms)
    .where(eq(rooms.id, p("id")))
    .prepare();

  // Members: every change is one synchronous transaction, so nothing runs between its reads and its writes.
  const memberColumns = {
    roomId: roomMembers.roomId,
    userId: roomMembers.userId,
    username: users.username,
    role: roomMembers.role,
    joinedAt: roomMembers.joinedAt,
  };
  const members = () => db.select(memberColumns).from(roomMembers).innerJoin(users, eq(users.id, roomMembers.userId));
  const memberRole = db
    .select({ role: roomMembers.role })
    .from(roomMembers)
    .where(and(eq(roomMembers.roomId, p("roomId")), eq(roomMembers.userId, p("userId"))))
    .prepare();
  const member = members()
    .where(and(eq(roomMembers.roomId, p("roomId")), eq(roomMembers.userId, p("userId"))))
    .prepare();
  const membersOf = members()
    .where(eq(roomMembers.roomId, p("roomId")))
    .orderBy(asc(roomMembers.joinedAt), asc(roomMembers.userId))
    .prepare();
  const insertMember = (roomId: number, userId: number, role: MemberRole, joinedAt: Date) =>
    db.insert(roomMembers).values({ roomId, userId, role, joinedAt }).onConflictDoNothing().returning().get() !==
    undefined;
  const createRoomWithOwner = sqlite.transaction((room: NewRoom): RoomRecord => {
    const { name, description, createdAt, visibility = "public" } = room;
    const created = db.insert(rooms).values({ name, description, createdAt, visibility }).returning(roomColumns).get();
    if (visibility === "private") insertMember(created.id, room.ownerId!, "owner", createdAt);
    return created;
  });
  const openDirect = sqlite.transaction((ids: [number, number], createdAt: Date) => {
    const directKey = [...ids].sort((a, b) => a - b).join(":");
    const existing = db.select(roomColumns).from(rooms).where(eq(rooms.directKey, directKey)).get();
    if (existing) return { room: existing, created: false };
    const room = db
      .insert(rooms)
      .values({ name: "", description: null, visibility: "private", kind: "direct", directKey, createdAt })
      .returning(roomColumns)
      .get();
    for (const userId of ids) insertMember(room.id, userId, "member", createdAt);
    return { room, created: true };
  });
  const addMemberOnce = sqlite.transaction((roomId: number, userId: number, joinedAt: Date) => {
    const created = insertMember(roomId, userId, "member", joinedAt);
    return { member: member.get({ roomId, userId }) as MemberRecord, created };
  });
  const removeMemberTx = sqlite.transaction((roomId: number, userId: number) => {
    const gone = db
      .delete(roomMembers)
      .where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, userId)))
      .returning({ role: roomMembers.role })
      .get();
    if (!gone) return { removed: false, newOwner: null, roomDeleted: false };
    db.delete(readPositions)
      .where(and(eq(readPositions.roomId, roomId), eq(readPositions.userId, userId)))
      .run();
    const left = membersOf.all({ roomId }) as MemberRecord[];
    // The room itself goes right after this transaction, through the purge (its messages a chunk at a time).
    if (left.length === 0) return { removed: true, newOwner: null, roomDeleted: true };
    const room = roomById.get({ id: roomId });
    if (room?.kind !== "room" || left.some((m) => m.role === "owner"))
      return { removed: true, newOwner: null, roomDeleted: false };
    const heir = left[0]!;
    db.update(roomMembers)
      .set({ role: "owner" })
      .where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, heir.userId)))
      .run();
    return { removed: true, newOwner: { ...heir, role: "owner" as const }, roomDeleted: false };
  });

  const listingRows = sqlite.query<
    {
      id: number;
      name: string;
      description: string | null;
      visibility: "public" | "private";
      kind: "room" | "direct";
      created_at: number;
      member_count: number | null;
      reader_role: MemberRole | null;
    },
    { reader: number; all: number; room: number | null }
  >(
    `SELECT * FROM (
       SELECT r.id, r.name, r.description, r.visibility, r.kind, r.created_at,
              CASE WHEN r.visibility = 'public' THEN NULL ELSE (SELECT count(*) FROM room_members m WHERE m.room_id = r.id) END AS member_count,
              (SELECT role FROM room_members m WHERE m.room_id = r.id AND m.user_id = $reader) AS reader_role
       FROM rooms r
       WHERE ($room IS NULL OR r.id = $room))
     WHERE $all OR visibility = 'public' OR reader_role IS NOT NULL
     ORDER BY id`,
  );
  const directPeopleRows = sqlite.query<{ room_id: number; id: number; username: string }, { rooms: string }>(
    `SELECT m.room_id, u.id, u.username FROM room_members m JOIN users u ON u.id = m.user_id
     WHERE m.room_id IN (SELECT value FROM json_each($rooms)) ORDER BY m.room_id, u.id`,
  );

  return {
    async createRoom(room) {
      try {
        return createRoomWithOwner(room);
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async listRooms() {
      return db.select(roomColumns).from(rooms).orderBy(asc(rooms.id)).all();
    },
    async listRoomListings({ readerId, all = false, roomId }) {
      const rows = listingRows.all({ reader: readerId, all: all ? 1 : 0, room: roomId ?? null });
      const direct = rows.filter((r) => r.kind === "direct").map((r) => r.id);
      const people = new Map<number, { id: number; username: string }[]>();
      if (direct.length > 0) {
        for (const { room_id, id, username } of directPeopleRows.all({ rooms: JSON.stringify(direct) })) {
          people.set(room_id, [...(people.get(room_id) ?? []), { id, username }]);
        }
      }
      return rows.map(
        (r): RoomListing => ({
          id: r.id,
          name: r.name,
          description: r.description,
          visibility: r.visibility,
          kind: r.kind,
          createdAt: new Date(r.created_at),
          memberCount: r.member_count,
          readerRole: r.reader_role,
          directPeople: r.kind === "direct" ? (people.get(r.id) ?? []) : null,
        }),
      );
    },
    async openDirectRoom(userIds, createdAt) {
      return openDirect(userIds, createdAt);
    },
    async findMemberRole(roomId, userId) {
      return memberRole.get({ roomId, userId })?.role;
    },
    async listMembers(roomId) {
      return membersOf.all({ roomId }) as MemberRecord[];
    },
    async addMember(roomId, userId, joinedAt) {
      try {
        return addMemberOnce(roomId, userId, joinedAt);
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async removeMember(roomId, userId) {
      const result = removeMemberTx(roomId, userId);
      // Synchronously after the commit, on the same connection: nothing runs in between.
      if (result.roomDeleted) purges.deleteRoom(roomId);
      return result;
    },
    async findRoom(id) {
      return roomById.get({ id });
    },
    async deleteRoom(id) {
      return purges.deleteRoom(id);
    },
  };
}
