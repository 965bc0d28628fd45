// Search: the form, the results (the server's snippets with their matched words marked), and opening a room at
// the message a result names.
import { api, type SearchResult } from "./api.ts";
import { $, el, ui } from "./dom.ts";
import { onSubmit } from "./forms.ts";
import { PAGE_SIZE } from "./history.ts";
import { addMessages, messageElement } from "./message-list.ts";
import { formatTime } from "./message-view.ts";
import { showNotice } from "./notices.ts";
import { joinRoom } from "./room.ts";
import { setSidebarOpen } from "./sidebar.ts";
import { current, roomById } from "./state.ts";

/** Messages shown before one opened from a search result (and the rest after it, page by page). */
const AROUND = 25;

/** The query shown and where its next page starts (null: no more). */
let search: { q: string; nextBefore: number | null } | null = null;

async function runSearch(q: string, before: number | null): Promise<void> {
  const page = await api.search(q, before);
  if (before === null) {
    search = { q, nextBefore: null };
    ui.searchList.replaceChildren();
  }
  if (search?.q !== q) return;
  search.nextBefore = page.next_before;
  ui.searchList.append(...page.results.map(renderResult));
  const count = ui.searchList.childElementCount;
  ui.searchTitle.textContent =
    count === 0 ? `Nothing found for ${q}` : `${count}${page.next_before === null ? "" : "+"} found for ${q}`;
  ui.searchMore.hidden = page.next_before === null;
  ui.searchResults.hidden = false;
}

export function closeSearch(): void {
  search = null;
  ui.searchResults.hidden = true;
  ui.searchList.replaceChildren();
  ui.searchError.textContent = "";
}

function renderResult(result: SearchResult): HTMLLIElement {
  const button = el("button", "search-result");
  button.type = "button";
  button.dataset.testid = "search-result";
  button.dataset.messageId = String(result.id);
  const meta = el("span", "search-meta");
  meta.append(el("span", "room-name", result.room_name), ` · ${result.username} · ${formatTime(result.timestamp)}`);
  const text = el("span", "snippet");
  text.append(snippetText(result.snippet));
  button.append(meta, text);
  button.addEventListener("click", () => void openAt(result.room_id, result.id));
  const item = el("li");
  item.append(button);
  return item;
}

const ENTITIES: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'" };

/**
 * The server's snippet (escaped text with the matched words in <mark>) as nodes: only <mark> is taken as markup,
 * everything else becomes text, so nothing in it can ever be HTML here.
 */
function snippetText(html: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  const decodeEntities = (text: string) => text.replace(/&(?:amp|lt|gt|quot|#39);/g, (entity) => ENTITIES[entity]!);
  let marked = false;
  for (const part of html.split(/(<\/?mark>)/)) {
    if (part === "<mark>" || part === "</mark>") marked = part === "<mark>";
    else if (part) fragment.append(marked ? el("mark", "", decodeEntities(part)) : decodeEntities(part));
  }
  return fragment;
}

/** Opens a room at one of its messages: the history around it, then everything after it, and the message shown. */
async function openAt(roomId: number, messageId: number): Promise<void> {
  ui.searchError.textContent = "";
  try {
    const room = roomById(roomId) ?? (await api.room(roomId));
    if (current?.room.id !== roomId) joinRoom(room);
    else setSidebarOpen(false);
    const open = current!;
    const [before, after] = await Promise.all([
      api.messages(roomId, { before: messageId + 1 }, AROUND),
      api.messages(roomId, { after: messageId }, PAGE_SIZE),
    ]);
    if (current !== open) return;
    addMessages(open, [...before, ...after], { scroll: false });
    if (before.length < AROUND) open.reachedStart = true;
    // Up to the newest, so no gap is left between this and the live messages (as after a long absence).
    for (let page = after; page.length === PAGE_SIZE; ) {
      page = await api.messages(roomId, { after: page.at(-1)!.id }, PAGE_SIZE);
      if (current !== open) return;
      addMessages(open, page, { scroll: false });
    }
    ui.loadEarlier.hidden = open.reachedStart;
    const found = messageElement(messageId) as HTMLElement | null;
    if (!found) return showNotice("That message is no longer there.", "error");
    for (const old of ui.messageList.querySelectorAll(".found")) old.classList.remove("found");
    found.classList.add("found");
    found.tabIndex = -1;
    found.scrollIntoView({ block: "center" });
    found.focus({ preventScroll: true });
  } catch (error) {
    ui.searchError.textContent = `Could not open the message: ${(error as Error).message}`;
  }
}

onSubmit(ui.searchForm, ui.searchError, async ({ q = "" }) => runSearch(q.trim(), null));
ui.searchMore.addEventListener("click", () => {
  if (search?.nextBefore != null)
    void runSearch(search.q, search.nextBefore).catch((error: Error) => (ui.searchError.textContent = error.message));
});
ui.searchClose.addEventListener("click", () => {
  closeSearch();
  ui.searchForm.reset();
  $("search-input").focus();
});
