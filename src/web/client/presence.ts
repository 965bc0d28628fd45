// Who is in the open room, and who is typing there.
import { el, ui } from "./dom.ts";
import type { PresenceUser } from "./room-socket.ts";
import { current, me, type OpenRoom } from "./state.ts";

const TYPING_SHOWN_MS = 3000;

export function renderOnline(users: PresenceUser[]): void {
  ui.onlineCount.textContent = String(users.length);
  ui.onlineUsers.replaceChildren(
    ...users.map((user) => {
      const item = el("li", user.user_id === me?.id ? "person me" : "person", user.username);
      item.dataset.userId = String(user.user_id);
      return item;
    }),
  );
}

export function startTyping(open: OpenRoom, userId: number, username: string): void {
  clearTimeout(open.typists.get(userId)?.timer);
  const timer = setTimeout(() => stopTyping(open, userId), TYPING_SHOWN_MS);
  open.typists.set(userId, { username, timer });
  renderTyping(open);
}

export function stopTyping(open: OpenRoom, userId: number | null, username?: string): void {
  for (const [id, typist] of open.typists) {
    if (id !== userId && typist.username !== username) continue;
    clearTimeout(typist.timer);
    open.typists.delete(id);
  }
  if (current === open) renderTyping(open);
}

export function renderTyping(open: OpenRoom): void {
  const names = [...open.typists.values()].map((t) => t.username);
  ui.typing.textContent =
    names.length === 0
      ? ""
      : names.length === 1
        ? `${names[0]} is typing…`
        : names.length === 2
          ? `${names[0]} and ${names[1]} are typing…`
          : "Several people are typing…";
}
