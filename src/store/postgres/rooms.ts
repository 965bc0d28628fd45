// Rooms and their members: public and private rooms, direct rooms of two people, and membership changes.
import type postgres from "postgres";
import { asc, eq, sql } from "drizzle-orm";
import {
  MissingReferenceError,
  type MemberRecord,
  type MemberRemoval,
  type MemberRole,
  type NewRoom,
  type RoomListing,
  type RoomRecord,
  type RoomQueries,
} from "../store.ts";
import { arrayLiteral } from "./connect.ts";
import { mapConstraint } from "./errors.ts";
import { deleteWithMessages } from "./references.ts";
import { first, type Db } from "./rows.ts";
import { rooms } from "./schema.ts";

const p = sql.placeholder;

export function roomQueries(client: postgres.Sql, db: Db): RoomQueries {
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
    .prepare("room_by_id");

  return {
    async createRoom(room) {
      try {
        return await client.begin((tx) => createRoomWithOwner(tx, room));
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async listRooms() {
      return db.select(roomColumns).from(rooms).orderBy(asc(rooms.id));
    },
    async listRoomListings({ readerId, all = false, roomId }) {
      const rows = await client<(RoomRow & { member_count: number | null; reader_role: MemberRole | null })[]>`
        SELECT * FROM (
          SELECT ${client.unsafe(ROOM_COLUMNS("r"))},
                 CASE WHEN r.visibility = 'public' THEN NULL
                      ELSE (SELECT count(*) FROM room_members m WHERE m.room_id = r.id)::int END AS member_count,
                 (SELECT role FROM room_members m WHERE m.room_id = r.id AND m.user_id = ${readerId}) AS reader_role
          FROM rooms r
          WHERE (${roomId ?? null}::int IS NULL OR r.id = ${roomId ?? null}::int)) listed
        WHERE ${all} OR visibility = 'public' OR reader_role IS NOT NULL
        ORDER BY id`;
      const direct = rows.filter((r) => r.kind === "direct").map((r) => r.id);
      const people = new Map<number, { id: number; username: string }[]>();
      if (direct.length > 0) {
        const found = await client<{ room_id: number; id: number; username: string }[]>`
          SELECT m.room_id, u.id, u.username FROM room_members m JOIN users u ON u.id = m.user_id
          WHERE m.room_id = ANY(${arrayLiteral(direct)}::int[]) ORDER BY m.room_id, u.id`;
        for (const { room_id, id, username } of found)
          people.set(room_id, [...(people.get(room_id) ?? []), { id, username }]);
      }
      return rows.map(
        (r): RoomListing => ({
          ...toRoom(r),
          memberCount: r.member_count,
          readerRole: r.reader_role,
          directPeople: r.kind === "direct" ? (people.get(r.id) ?? []) : null,
        }),
      );
    },
    async openDirectRoom(userIds, createdAt) {
      const directKey = [...userIds].sort((a, b) => a - b).join(":");
      return client.begin(async (tx) => {
        // A concurrent call's INSERT waits for this one's commit, then finds the key taken and reads this room.
        const [made] = await tx<RoomRow[]>`
          INSERT INTO rooms (name, description, visibility, kind, direct_key, created_at)
          VALUES ('', NULL, 'private', 'direct', ${directKey}, to_timestamp(${createdAt.getTime()} / 1000.0))
          ON CONFLICT (direct_key) DO NOTHING
          RETURNING ${tx.unsafe(ROOM_COLUMNS("rooms"))}`;
        if (made) {
          for (const userId of userIds) {
            await tx`INSERT INTO room_members (room_id, user_id, role, joined_at)
                     VALUES (${made.id}, ${userId}, 'member', to_timestamp(${createdAt.getTime()} / 1000.0))`;
          }
          return { room: toRoom(made), created: true };
        }
        const [found] = await tx<
          RoomRow[]
        >`SELECT ${tx.unsafe(ROOM_COLUMNS("rooms"))} FROM rooms WHERE direct_key = ${directKey}`;
        return { room: toRoom(found!), created: false };
      }) as Promise<{ room: RoomRecord; created: boolean }>;
    },
    async findMemberRole(roomId, userId) {
      const [row] = await client<
        { role: "owner" | "member" }[]
      >`SELECT role FROM room_members WHERE room_id = ${roomId} AND user_id = ${userId}`;
      return row?.role;
    },
    async listMembers(roomId) {
      return (
        await client<MemberRow[]>`
        SELECT ${client.unsafe(MEMBER_COLUMNS)} FROM room_members m JOIN users u ON u.id = m.user_id
        WHERE m.room_id = ${roomId} ORDER BY m.joined_at, m.user_id`
      ).map(toMember);
    },
    async addMember(roomId, userId, joinedAt) {
      try {
        const inserted = await client`
          INSERT INTO room_members (room_id, user_id, role, joined_at)
          VALUES (${roomId}, ${userId}, 'member', to_timestamp(${joinedAt.getTime()} / 1000.0))
          ON CONFLICT DO NOTHING RETURNING user_id`;
        const [row] = await client<MemberRow[]>`
          SELECT ${client.unsafe(MEMBER_COLUMNS)} FROM room_members m JOIN users u ON u.id = m.user_id
          WHERE m.room_id = ${roomId} AND m.user_id = ${userId}`;
        if (!row) throw new MissingReferenceError();
        return { member: toMember(row), created: inserted.length > 0 };
      } catch (error) {
        throw mapConstraint(error);
      }
    },
    async removeMember(roomId, userId) {
      return client.begin(async (tx) => {
        // The room's row lock puts concurrent removals from one room in a line: each sees who the last one left.
        const [room] = await tx<{ kind: "room" | "direct" }[]>`SELECT kind FROM rooms WHERE id = ${roomId} FOR UPDATE`;
        const gone = room
          ? await tx`DELETE FROM room_members WHERE room_id = ${roomId} AND user_id = ${userId} RETURNING role`
          : [];
        if (gone.length === 0) return { removed: false, newOwner: null, roomDeleted: false };
        await tx`DELETE FROM read_positions WHERE room_id = ${roomId} AND user_id = ${userId}`;
        const left = (
          await tx<MemberRow[]>`
          SELECT ${tx.unsafe(MEMBER_COLUMNS)} FROM room_members m JOIN users u ON u.id = m.user_id
          WHERE m.room_id = ${roomId} ORDER BY m.joined_at, m.user_id`
        ).map(toMember);
        if (left.length === 0) {
          await tx`DELETE FROM rooms WHERE id = ${roomId}`;
          await tx`DELETE FROM messages WHERE room_id = ${roomId}`;
          return { removed: true, newOwner: null, roomDeleted: true };
        }
        if (room!.kind !== "room" || left.some((m) => m.role === "owner"))
          return { removed: true, newOwner: null, roomDeleted: false };
        const heir = left[0]!;
        await tx`UPDATE room_members SET role = 'owner' WHERE room_id = ${roomId} AND user_id = ${heir.userId}`;
        return { removed: true, newOwner: { ...heir, role: "owner" as const }, roomDeleted: false };
      }) as Promise<MemberRemoval>;
    },
    async findRoom(id) {
      return first(await roomById.execute({ id }));
    },
    async deleteRoom(id) {
      return deleteWithMessages(client, "rooms", "room_id", id);
    },
  };
}

interface RoomRow {
  id: number;
  name: string;
  description: string | null;
  visibility: "public" | "private";
  kind: "room" | "direct";
  created_ms: number;
}

const ROOM_COLUMNS = (table: string) =>
  `${table}.id, ${table}.name, ${table}.description, ${table}.visibility, ${table}.kind,
   round(extract(epoch FROM ${table}.created_at) * 1000)::float8 AS created_ms`;

function toRoom(row: RoomRow): RoomRecord {
  const { created_ms, ...rest } = row;
  return { ...rest, createdAt: new Date(created_ms) };
}

async function createRoomWithOwner(tx: postgres.TransactionSql, room: NewRoom): Promise<RoomRecord> {
  const { name, description, createdAt, visibility = "public" } = room;
  const [row] = await tx<RoomRow[]>`
    INSERT INTO rooms (name, description, visibility, created_at)
    VALUES (${name}, ${description}, ${visibility}, to_timestamp(${createdAt.getTime()} / 1000.0))
    RETURNING ${tx.unsafe(ROOM_COLUMNS("rooms"))}`;
  if (visibility === "private") {
    await tx`INSERT INTO room_members (room_id, user_id, role, joined_at)
             VALUES (${row!.id}, ${room.ownerId!}, 'owner', to_timestamp(${createdAt.getTime()} / 1000.0))`;
  }
  return toRoom(row!);
}

interface MemberRow {
  room_id: number;
  user_id: number;
  username: string;
  role: "owner" | "member";
  joined_ms: number;
}

const MEMBER_COLUMNS = `m.room_id, m.user_id, u.username, m.role, round(extract(epoch FROM m.joined_at) * 1000)::float8 AS joined_ms`;

function toMember(row: MemberRow): MemberRecord {
  return {
    roomId: row.room_id,
    userId: row.user_id,
    username: row.username,
    role: row.role,
    joinedAt: new Date(row.joined_ms),
  };
}
