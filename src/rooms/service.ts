// Rooms: create (unique names), list, find, delete (its messages go with it, and live sockets are told).
import type { Clock } from "../clock.ts";
import { AppError } from "../errors.ts";
import { ConflictError, type RoomRecord, type Store } from "../store/store.ts";
import type { RoomEvents } from "../messages/events.ts";
import { assertStorableText } from "../messages/model.ts";

export type RoomService = ReturnType<typeof createRoomService>;

export function createRoomService(deps: { store: Store; clock: Clock; events: RoomEvents }) {
  const { store, clock, events } = deps;
  return {
    async create(input: { name: string; description?: string | null }): Promise<RoomRecord> {
      const name = input.name.trim();
      assertStorableText(name, "name");
      if (input.description) assertStorableText(input.description, "description");
      try {
        return await store.createRoom({ name, description: input.description ?? null, createdAt: new Date(clock()) });
      } catch (error) {
        if (error instanceof ConflictError) throw new AppError("ROOM_NAME_TAKEN");
        throw error;
      }
    },
    list: () => store.listRooms(),
    async get(id: number): Promise<RoomRecord> {
      const room = await store.findRoom(id);
      if (!room) throw new AppError("ROOM_NOT_FOUND");
      return room;
    },
    async remove(id: number): Promise<void> {
      if (!(await store.deleteRoom(id))) throw new AppError("ROOM_NOT_FOUND");
      events.roomDeleted(id);
    },
  };
}
