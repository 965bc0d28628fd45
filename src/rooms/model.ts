// Room schemas and the room's JSON shape (the seed's).
import { t } from "elysia";
import { requestObject, responseObject } from "../schemas.ts";
import type { RoomRecord } from "../store/store.ts";

export const ROOM_LIMITS = { nameMax: 100, descriptionMax: 1000 } as const;

export const RoomBody = requestObject({
  name: t.String({ minLength: 1, maxLength: ROOM_LIMITS.nameMax, pattern: "\\S", description: "1-100 characters, not blank; trimmed" }),
  description: t.Optional(t.Nullable(t.String({ maxLength: ROOM_LIMITS.descriptionMax }))),
});

export const RoomResponse = responseObject({
  id: t.Integer(),
  name: t.String(),
  description: t.Nullable(t.String()),
  created_at: t.String({ format: "date-time" }),
});

export function toRoomJson(room: RoomRecord) {
  return { id: room.id, name: room.name, description: room.description, created_at: room.createdAt.toISOString() };
}
