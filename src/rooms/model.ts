// Room and member schemas, and the room's JSON shape (the seed's, plus visibility, kind and member_count).
import { t } from "elysia";
import { Username } from "../auth/model.ts";
import { UNREAD_CAP, type MemberRecord, type RoomActivity, type RoomListing } from "../store/store.ts";
import { requestObject, responseObject } from "../schemas.ts";

export const ROOM_LIMITS = { nameMax: 100, descriptionMax: 1000 } as const;

export const RoomBody = requestObject({
  name: t.String({
    minLength: 1,
    maxLength: ROOM_LIMITS.nameMax,
    pattern: "\\S",
    description: "1-100 characters, not blank; trimmed",
  }),
  description: t.Optional(t.Nullable(t.String({ maxLength: ROOM_LIMITS.descriptionMax }))),
  visibility: t.Optional(
    t.Union([t.Literal("public"), t.Literal("private")], {
      default: "public",
      description:
        "`public` (admins only, the name unique among public rooms) or `private` (anyone; you become its owner)",
    }),
  ),
});

export const RoomListQuery = t.Object({
  all: t.Optional(t.Boolean({ description: "Admins: every room of every kind, member or not" })),
});

export const RoomResponse = responseObject({
  id: t.Integer(),
  name: t.String({ description: "For a direct room, the other person's username" }),
  description: t.Nullable(t.String()),
  created_at: t.String({ format: "date-time" }),
  visibility: t.Union([t.Literal("public"), t.Literal("private")]),
  kind: t.Union([t.Literal("room"), t.Literal("direct")]),
  member_count: t.Nullable(t.Integer({ description: "null for public rooms, which have no members" })),
  last_read_id: t.Nullable(
    t.Integer({ description: "The newest message you have read here; null if you never read this room" }),
  ),
  unread_count: t.Nullable(
    t.Integer({
      description:
        `Messages by others after your position, exact up to ${UNREAD_CAP} (then ${UNREAD_CAP} with unread_capped). null for a ` +
        "public room you never read; in your private and direct rooms everything counts until you read",
    }),
  ),
  unread_capped: t.Boolean(),
  last_message: t.Nullable(
    responseObject({
      id: t.Integer(),
      user_id: t.Integer(),
      username: t.String(),
      content: t.String({ description: "The first 200 characters" }),
      timestamp: t.String({ format: "date-time" }),
    }),
  ),
});

export const MemberBody = requestObject({ username: t.String({ minLength: 1, maxLength: Username.maxLength }) });
export const DirectBody = MemberBody;

export const MemberResponse = responseObject({
  user_id: t.Integer(),
  username: t.String(),
  role: t.Union([t.Literal("owner"), t.Literal("member")]),
  joined_at: t.String({ format: "date-time" }),
});

/** A direct room is named, for each of its two people, after the other (both names for an admin outside it). */
function directName(room: RoomListing, viewerId: number): string {
  const people = room.directPeople ?? [];
  const others = people.filter((p) => p.id !== viewerId);
  if (others.length === people.length) return people.map((p) => p.username).join(", ");
  return others[0]?.username ?? "(deleted account)";
}

const NO_ACTIVITY: RoomActivity = { lastReadId: null, unread: null, lastMessage: null };

export function toRoomJson(room: RoomListing, viewerId: number, activity: RoomActivity = NO_ACTIVITY) {
  const { lastMessage: last, unread } = activity;
  return {
    id: room.id,
    name: room.kind === "direct" ? directName(room, viewerId) : room.name,
    description: room.description,
    created_at: room.createdAt.toISOString(),
    visibility: room.visibility,
    kind: room.kind,
    member_count: room.memberCount,
    last_read_id: activity.lastReadId,
    unread_count: unread === null ? null : Math.min(unread, UNREAD_CAP),
    unread_capped: unread !== null && unread > UNREAD_CAP,
    last_message: last && {
      id: last.id,
      user_id: last.userId,
      username: last.username,
      content: last.content,
      timestamp: last.createdAt.toISOString(),
    },
  };
}

export function toMemberJson(member: MemberRecord) {
  return {
    user_id: member.userId,
    username: member.username,
    role: member.role,
    joined_at: member.joinedAt.toISOString(),
  };
}
