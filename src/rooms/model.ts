// Room schemas and the room's JSON shape (the seed's).
import { t } from "elysia";
import type { RoomRecord } from "../store/store.ts";

export const ROOM_LIMITS = { nameMax: 100, descriptionMax: 1000 } as const;

export const RoomBody = t.Object({
  name: t.String({ minLength: 1, maxLength: ROOM_LIMITS.nameMax, pattern: "\\S", description: "1-100 characters, not blank; trimmed" }),
  description: t.Optional(t.Nullable(t.String({ maxLength: ROOM_LIMITS.descriptionMax }))),
});

export const RoomResponse = t.Object({
  id: t.Integer(),
  name: t.String(),
  description: t.Nullable(t.String()),
  created_at: t.String({ format: "date-time" }),
});

export function toRoomJson(room: RoomRecord) {
  return { id: room.id, name: room.name, description: room.description, created_at: room.createdAt.toISOString() };
}
