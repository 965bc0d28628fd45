// The sidebar: the room lists (public, private, direct), the forms that make a room or open a direct one, and on a
// phone the drawer it becomes.
import { api, type Room } from "./api.ts";
import { el, PHONE, ui } from "./dom.ts";
import { onSubmit } from "./forms.ts";
import { joinRoom } from "./room.ts";
import { current, me, roomById, rooms, setRooms } from "./state.ts";
import { showUnread } from "./unread.ts";

type RoomGroup = "public" | "private" | "direct";
const groupOf = (room: Room): RoomGroup => (room.kind === "direct" ? "direct" : room.visibility);

export async function loadRooms(): Promise<void> {
  renderRooms(await api.rooms());
}

/** Public rooms, private rooms and direct messages, each in its own list. */
export function renderRooms(list: Room[]): void {
  setRooms(list);
  const lists: Record<RoomGroup, HTMLElement> = { public: ui.roomList, private: ui.privateList, direct: ui.directList };
  const items: Record<RoomGroup, HTMLLIElement[]> = { public: [], private: [], direct: [] };
  for (const room of rooms) items[groupOf(room)].push(renderRoomItem(room));
  for (const group of Object.keys(lists) as RoomGroup[]) lists[group].replaceChildren(...items[group]);
  ui.roomsEmpty.hidden = items.public.length > 0;
  ui.privateTitle.hidden = ui.privateList.hidden = items.private.length === 0;
  markActiveRoom();
}

function renderRoomItem(room: Room): HTMLLIElement {
  const button = el("button", "room-item");
  button.type = "button";
  button.dataset.roomId = String(room.id);
  button.dataset.kind = room.kind === "direct" ? "direct" : room.visibility;
  button.dataset.testid = `room-${room.id}`;
  const line = el("span", "room-line");
  line.append(el("span", "room-name", room.name), el("span", "unread"));
  button.append(line);
  if (room.description) button.append(el("span", "room-desc", room.description));
  button.addEventListener("click", () => joinRoom(roomById(room.id) ?? room));
  const item = el("li");
  item.append(button);
  showUnread(room, button);
  return item;
}

export function markActiveRoom(): void {
  for (const button of ui.sidebar.querySelectorAll<HTMLElement>("[data-room-id]")) {
    if (button.dataset.roomId === String(current?.room.id)) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

export function setSidebarOpen(open: boolean): void {
  const wasOpen = ui.sidebar.classList.contains("open");
  ui.sidebar.classList.toggle("open", open);
  ui.backdrop.hidden = !open;
  ui.roomsToggle.setAttribute("aria-expanded", String(open));
  fitDrawer();
  if (!PHONE.matches) return;
  // On a phone the drawer is a dialog: focus goes in, stays in (the room behind is inert), and comes back out.
  if (open && !wasOpen) ui.sidebar.querySelector<HTMLElement>("[aria-current=true], button, input")?.focus();
  else if (!open && wasOpen && ui.sidebar.contains(document.activeElement)) ui.roomsToggle.focus();
}

/** Phones: a closed drawer is out of the tab order, an open one keeps the focus. Desktops: both always usable. */
function fitDrawer(): void {
  const open = ui.sidebar.classList.contains("open");
  ui.sidebar.inert = PHONE.matches && !open;
  ui.room.inert = PHONE.matches && open;
}

onSubmit(ui.newRoomForm, ui.newRoomError, async ({ name = "", description = "", visibility = "private" }) => {
  const room = await api.createRoom(
    name.trim(),
    description.trim() || null,
    visibility === "public" ? "public" : "private",
  );
  const admin = me?.role === "admin";
  ui.newRoomForm.reset();
  ui.newRoomVisibility.value = admin ? "public" : "private";
  await loadRooms();
  joinRoom(room);
});

onSubmit(ui.dmForm, ui.dmError, async ({ username = "" }) => {
  const room = await api.openDirect(username.trim());
  ui.dmForm.reset();
  await loadRooms();
  joinRoom(room);
});

ui.roomsToggle.addEventListener("click", () => {
  const opening = !ui.sidebar.classList.contains("open");
  setSidebarOpen(opening);
  if (opening) void loadRooms().catch(() => {});
});
ui.backdrop.addEventListener("click", () => setSidebarOpen(false));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && PHONE.matches && ui.sidebar.classList.contains("open")) setSidebarOpen(false);
});
PHONE.addEventListener("change", fitDrawer);
fitDrawer();
