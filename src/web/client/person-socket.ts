// The person socket (GET /ws): rooms that appear or go for this person, their reads in other tabs, and activity
// in rooms not open here, for the badges.
import { tokenRefused } from "./account.ts";
import { api, ApiError, session } from "./api.ts";
import { ui } from "./dom.ts";
import { RoomSocket, type PersonFrame } from "./room-socket.ts";
import { roomEnded } from "./room.ts";
import { loadRooms, renderRooms } from "./sidebar.ts";
import { current, roomById, rooms } from "./state.ts";
import { noteArrival, readUpTo, refreshRoomsSoon } from "./unread.ts";

export let personSocket: RoomSocket<PersonFrame> | null = null;

/** GET /ws: rooms that appear or go for this person, their reads in other tabs, and activity for the badges. */
export function startPersonSocket(): void {
  personSocket?.stop();
  const socket = new RoomSocket<PersonFrame>({
    url: () => `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`,
    token: () => session.token ?? "",
    resumeAfter: () => 0,
    onOpen: () => {},
    onFrame: (frame) => personSocket === socket && handlePersonFrame(frame),
    onState: (state) => {
      if (personSocket === socket) ui.sidebar.dataset.live = state;
    },
    onEnd: (reason) => {
      if (personSocket === socket && reason === "unauthorized")
        void tokenRefused(() => personSocket === socket && startPersonSocket());
    },
    whyNotRetry: async () => {
      try {
        await api.me();
        return null;
      } catch (error) {
        return error instanceof ApiError && error.status === 401 ? "unauthorized" : null;
      }
    },
  });
  personSocket = socket;
  socket.start();
}

function handlePersonFrame(frame: PersonFrame): void {
  switch (frame.type) {
    case "ready":
      // Subscribed: from here on nothing is missed, so the list read now is complete (also after a reconnect).
      void loadRooms().catch(() => {});
      break;
    case "room_added":
      if (!roomById(frame.room.id)) renderRooms([...rooms, frame.room]);
      // The frame has no counts: the list read again has them.
      refreshRoomsSoon();
      break;
    case "room_removed": {
      if (current?.room.id === frame.room_id) roomEnded(frame.reason === "removed" ? "removed" : "room-deleted");
      renderRooms(rooms.filter((room) => room.id !== frame.room_id));
      break;
    }
    case "read": {
      const room = roomById(frame.room_id);
      if (room) readUpTo(room, frame.message_id);
      break;
    }
    case "room_activity": {
      // The open room's own socket brings these messages one by one.
      const room = roomById(frame.room_id);
      if (!room || current?.room.id === frame.room_id) break;
      const newest = room.last_message?.id ?? 0;
      for (const message of frame.messages) {
        if (message.id > newest) noteArrival(room, { ...frame.last_message, id: message.id, user_id: message.user_id });
      }
      room.last_message = frame.last_message;
      break;
    }
  }
}

export function stopPersonSocket(): void {
  personSocket?.stop();
  personSocket = null;
}
