// Writing: the composer, sending (a pending message until the server stores it), and telling others one types.
import { ui } from "./dom.ts";
import { renderPending, scrollToBottom } from "./message-list.ts";
import { drafts } from "./outbox.ts";
import { current } from "./state.ts";

const TYPING_SEND_EVERY_MS = 2000;

function sendMessage(): void {
  const open = current;
  const content = ui.messageInput.value.trim();
  if (!open || !content) return;
  const pending = open.timeline.addPending(content);
  renderPending(pending);
  scrollToBottom();
  // Not connected: it stays pending and goes out when the socket opens again.
  open.socket.send({ content, client_id: pending.clientId });
  ui.messageInput.value = "";
  drafts.set(open.room.id, "");
  fitComposer();
  updateSendButton();
}

export function updateSendButton(): void {
  ui.sendButton.disabled = !current || ui.messageInput.value.trim() === "";
}

function noteTyping(): void {
  const open = current;
  if (!open || ui.messageInput.value.trim() === "") return;
  const now = Date.now();
  if (now - open.lastTypingSent < TYPING_SEND_EVERY_MS) return;
  if (open.socket.send({ type: "typing" })) open.lastTypingSent = now;
}

/** The composer grows with its text, up to a few lines. */
export function fitComposer(): void {
  ui.messageInput.style.height = "auto";
  ui.messageInput.style.height = `${Math.min(ui.messageInput.scrollHeight, 160)}px`;
}

ui.messageForm.addEventListener("submit", (event) => {
  event.preventDefault();
  sendMessage();
});
ui.messageInput.addEventListener("keydown", (event) => {
  // Enter sends; Shift+Enter makes a new line; Enter while an IME composes a word is the IME's.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendMessage();
  }
});
ui.messageInput.addEventListener("input", () => {
  fitComposer();
  noteTyping();
  updateSendButton();
  if (current) drafts.set(current.room.id, ui.messageInput.value);
});
