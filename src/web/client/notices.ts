// Telling the person something: a line for screen readers, and the notice bar over the room.
import { ui } from "./dom.ts";

/** Said once by screen readers (a polite live region). */
export function announce(text: string): void {
  ui.announcer.textContent = text;
}

let noticeTimer: ReturnType<typeof setTimeout> | undefined;
export function showNotice(text: string, kind: "info" | "error" = "info"): void {
  ui.notice.textContent = text;
  ui.notice.dataset.kind = kind;
  ui.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (ui.notice.hidden = true), 6000);
}
