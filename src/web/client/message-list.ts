// The open room's message list: messages placed in id order, the user's pending ones after them, system lines, and
// the scroll position kept at the bottom while the reader is there.
import { WS_LIMITS } from "../../realtime/wire.ts";
import { el, ui } from "./dom.ts";
import { messageShell, renderMessage } from "./message-view.ts";
import { current, me, type OpenRoom } from "./state.ts";
import type { ChatMessage, PendingMessage } from "./timeline.ts";
import { markSeen, placeDivider } from "./unread.ts";

const JOIN_HISTORY = WS_LIMITS.historyOnJoin;
const NEAR_BOTTOM_PX = 80;

export function nearBottom(): boolean {
  const { scrollHeight, scrollTop, clientHeight } = ui.scroller;
  return scrollHeight - scrollTop - clientHeight < NEAR_BOTTOM_PX;
}

export function addMessages(open: OpenRoom, messages: ChatMessage[], { scroll = true } = {}): void {
  const stick = nearBottom();
  // Arriving where nobody is looking (scrolled up, another window): the divider moves to mark them.
  if (open.live && open.seenUpTo !== null && !(stick && document.hasFocus())) {
    open.dividerAfter = open.seenUpTo;
    open.seenUpTo = null;
  }
  let mine = false;
  for (const message of messages) {
    const placed = open.timeline.add(message);
    if (message.client_id) pendingElement(message.client_id)?.remove();
    if (!placed) continue;
    const before = placed.before === null ? firstAfterStored() : messageElement(placed.before);
    ui.messageList.insertBefore(renderMessage(message), before);
    mine ||= message.user_id === me?.id;
  }
  // A join brings the last 20 messages; with fewer the room has no older ones.
  ui.loadEarlier.hidden = open.reachedStart || open.timeline.messages.size < JOIN_HISTORY;
  placeDivider(open);
  if (scroll && (stick || mine)) scrollToBottom();
  // The join's history comes one frame per message: read once it is all here (at active_users), not per frame.
  if (open.live) markSeen();
}

/** Where a message newer than every stored one goes: before the pending ones, after system lines. */
function firstAfterStored(): Element | null {
  return ui.messageList.querySelector(":scope > [data-client-id]");
}

export function addSystemLine(text: string, timestamp: string): void {
  const stick = nearBottom();
  const line = el("li", "system", text);
  line.title = new Date(timestamp).toLocaleString();
  ui.messageList.insertBefore(line, firstAfterStored());
  if (stick) scrollToBottom();
}

export function scrollToBottom(): void {
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
}

export function messageElement(id: number): Element | null {
  return ui.messageList.querySelector(`:scope > [data-id="${id}"]`);
}

export function pendingElement(clientId: string): HTMLElement | undefined {
  return [...ui.messageList.querySelectorAll<HTMLElement>(":scope > [data-client-id]")].find(
    (e) => e.dataset.clientId === clientId,
  );
}

/** Draws (or redraws in place) one of the user's own messages the server has not confirmed yet. */
export function renderPending(pending: PendingMessage): void {
  const stick = nearBottom();
  const item = messageShell(me?.username ?? "", pending.content, true);
  item.classList.add("pending", pending.state);
  item.dataset.clientId = pending.clientId;
  item.dataset.testid = "pending-message";
  const status = el("div", "status");
  if (pending.state === "failed") {
    status.append(el("span", "", `Not sent: ${pending.error ?? "refused"}`));
    const retry = el("button", "retry", "Retry");
    retry.type = "button";
    retry.addEventListener("click", () => {
      pending.state = "sending";
      delete pending.error;
      renderPending(pending);
      current?.socket.send({ content: pending.content, client_id: pending.clientId });
    });
    status.append(retry);
  } else {
    status.textContent = pending.state === "stored" ? "Sent" : "Sending…";
  }
  item.append(status);
  const existing = pendingElement(pending.clientId);
  if (existing) existing.replaceWith(item);
  else ui.messageList.append(item);
  if (stick) scrollToBottom();
}
