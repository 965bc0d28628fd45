// History over HTTP: the pages a reconnect could not bring (after a `sync`), and earlier messages on request.
import type { MESSAGE_LIMITS } from "../../messages/model.ts";
import { api } from "./api.ts";
import { ui } from "./dom.ts";
import { addMessages } from "./message-list.ts";
import { showNotice } from "./notices.ts";
import { current, type OpenRoom } from "./state.ts";

/** History pages are as long as the server allows; the type keeps this in step with it (no server code is bundled). */
export const PAGE_SIZE: (typeof MESSAGE_LIMITS)["pageMax"] = 100;

/** The server sent what it could after `since`; the rest comes over HTTP, one page after another. */
export async function pageForward(open: OpenRoom): Promise<void> {
  if (open.syncing) return;
  open.syncing = true;
  // Live messages may arrive meanwhile, so the cursor is our own, not the highest id seen.
  let after = open.syncedUpTo ?? open.timeline.lastId;
  open.syncedUpTo = after;
  try {
    for (;;) {
      const page = await api.messages(open.room.id, { after }, PAGE_SIZE);
      if (current !== open) return;
      addMessages(open, page);
      after = page.at(-1)?.id ?? after;
      open.syncedUpTo = after;
      if (page.length < PAGE_SIZE) break;
    }
    open.syncedUpTo = null;
  } catch (error) {
    // The gap stays recorded, so the next reconnect asks for it again with `since`.
    showNotice(`Some messages could not be loaded: ${(error as Error).message}`, "error");
  } finally {
    open.syncing = false;
  }
}

async function loadEarlier(): Promise<void> {
  const open = current;
  const before = open?.timeline.firstId;
  if (!open || before === undefined) return;
  // Not disabled while loading: a disabled button loses the keyboard focus.
  if (ui.loadEarlier.getAttribute("aria-busy") === "true") return;
  ui.loadEarlier.setAttribute("aria-busy", "true");
  const hadFocus = document.activeElement === ui.loadEarlier;
  try {
    const page = await api.messages(open.room.id, { before }, PAGE_SIZE);
    if (current !== open) return;
    // Keep what the reader is looking at in place while older messages go in above it.
    const fromBottom = ui.scroller.scrollHeight - ui.scroller.scrollTop;
    addMessages(open, page, { scroll: false });
    ui.scroller.scrollTop = ui.scroller.scrollHeight - fromBottom;
    open.reachedStart = page.length < PAGE_SIZE;
    ui.loadEarlier.hidden = open.reachedStart;
    if (hadFocus && open.reachedStart) {
      // The button is gone: the focus goes to the oldest message, where reading continues.
      const first = ui.messageList.querySelector<HTMLElement>(":scope > li.message");
      if (first) {
        first.tabIndex = -1;
        first.focus({ preventScroll: true });
      }
    }
  } catch (error) {
    showNotice(`Could not load earlier messages: ${(error as Error).message}`, "error");
  } finally {
    ui.loadEarlier.removeAttribute("aria-busy");
  }
}

ui.loadEarlier.addEventListener("click", () => void loadEarlier());
