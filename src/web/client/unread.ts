// What is read and what is new: the unread badges and the title's count, the "new messages" divider, and telling
// the server (and so the other tabs) what the person has seen.
import type { Room } from "./api.ts";
import { el, ui } from "./dom.ts";
import { nearBottom } from "./message-list.ts";
import { loadRooms } from "./sidebar.ts";
import { current, me, roomById, rooms, type OpenRoom } from "./state.ts";
import type { ChatMessage } from "./timeline.ts";

/** The room's unread badge, and the page title's total. */
export function showUnread(
  room: Room,
  button = ui.sidebar.querySelector<HTMLElement>(`[data-room-id="${room.id}"]`),
): void {
  const badge = button?.querySelector<HTMLElement>(".unread");
  if (badge) {
    const count = room.unread_count ?? 0;
    badge.hidden = count === 0;
    badge.dataset.count = String(count);
    badge.textContent = count === 0 ? "" : `${count}${room.unread_capped ? "+" : ""}`;
    badge.append(el("span", "visually-hidden", ` unread message${count === 1 ? "" : "s"}`));
  }
  const total = rooms.reduce((sum, r) => sum + (r.unread_count ?? 0), 0);
  document.title = total > 0 ? `(${total}) Chat` : "Chat";
}

/** Someone's (or another tab's) read position moved to `messageId`. */
export function readUpTo(room: Room, messageId: number): void {
  if (messageId <= (room.last_read_id ?? 0)) return;
  room.last_read_id = messageId;
  if (room.last_message === null || messageId >= room.last_message.id) {
    room.unread_count = 0;
    room.unread_capped = false;
    showUnread(room);
  } else {
    // Read part of the way: only the server can count what is left.
    refreshRoomsSoon();
  }
}

let refreshTimer: ReturnType<typeof setTimeout> | undefined;
export function refreshRoomsSoon(): void {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void loadRooms().catch(() => {}), 1000);
}

/** A new message in a room, seen or not: the room's newest message moves, and one by someone else is unread. */
export function noteArrival(
  room: Room,
  message: Pick<ChatMessage, "id" | "user_id" | "username" | "content" | "timestamp">,
): void {
  if (room.last_message && room.last_message.id >= message.id) return;
  room.last_message = { ...message, content: message.content.slice(0, 200) };
  if (message.user_id === me?.id || message.id <= (room.last_read_id ?? 0)) return;
  // A public room never read has no count (null) until it is read once.
  if (room.unread_count === null && room.last_read_id === null && room.visibility === "public") return;
  room.unread_count = (room.unread_count ?? 0) + 1;
  showUnread(room);
}

/** The "new messages" line, before the first message by someone else that was not read when it came. */
export function placeDivider(open: OpenRoom): void {
  const after = open.dividerAfter;
  if (after === null) return;
  const first = [...ui.messageList.querySelectorAll<HTMLElement>(":scope > li.message[data-id]:not(.mine)")].find(
    (item) => Number(item.dataset.id) > after,
  );
  let divider = ui.messageList.querySelector<HTMLElement>(":scope > .new-divider");
  if (!first) return divider?.remove();
  if (divider?.nextElementSibling === first) return;
  divider ??= el("li", "new-divider", "New messages");
  divider.dataset.testid = "new-divider";
  first.before(divider);
}

/**
 * What the person can see is read: the newest message, when the window has focus and the list is at the bottom.
 * The server coalesces a burst of these; the other tabs hear of it.
 */
export function markSeen(): void {
  const open = current;
  if (!open || !document.hasFocus() || !nearBottom()) return;
  const newest = open.timeline.lastId;
  const room = roomById(open.room.id);
  open.seenUpTo = newest;
  // Until the divider is placed it follows what was seen, so it marks only what came unseen.
  if (open.dividerAfter !== null && !ui.messageList.querySelector(".new-divider"))
    open.dividerAfter = Math.max(open.dividerAfter, newest);
  if (room && (room.unread_count ?? 0) > 0 && newest >= (room.last_message?.id ?? 0)) {
    room.unread_count = 0;
    room.unread_capped = false;
    showUnread(room);
  }
  if (newest <= open.readSent) return;
  if (!open.socket.send({ type: "read", message_id: newest })) return;
  open.readSent = newest;
  if (room && newest > (room.last_read_id ?? 0)) room.last_read_id = newest;
}

window.addEventListener("focus", () => markSeen());
ui.scroller.addEventListener("scroll", () => markSeen(), { passive: true });
