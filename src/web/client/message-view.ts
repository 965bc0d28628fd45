// One message as it is drawn: author, time, the text with its links, and long text collapsed.
import { el } from "./dom.ts";
import { me } from "./state.ts";
import { newClientId, type ChatMessage } from "./timeline.ts";

/** Longer messages are shown collapsed, with "Show more". */
const COLLAPSE_CHARS = 700;
const COLLAPSE_LINES = 12;

export function formatTime(iso: string): string {
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

const LINK = /\bhttps?:\/\/[^\s<>"']+/gi;

/** The text with its http(s) links as links (opened in a new tab, without access to this page); nothing else. */
function linkify(text: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  let at = 0;
  for (const match of text.matchAll(LINK)) {
    // Trailing punctuation ends a sentence, not the address.
    const href = match[0].replace(/[.,;:!?)\]]+$/, "");
    let url: URL;
    try {
      url = new URL(href);
    } catch {
      continue;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") continue;
    fragment.append(text.slice(at, match.index));
    const link = el("a", "", href);
    link.href = url.href;
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
    fragment.append(link);
    at = match.index + href.length;
  }
  fragment.append(text.slice(at));
  return fragment;
}

export function messageShell(author: string, text: string, isMine: boolean): HTMLLIElement {
  const item = el("li", isMine ? "message mine" : "message");
  item.dataset.testid = "message";
  const meta = el("div", "meta");
  meta.append(el("span", "author", author));
  const content = el("div", "content");
  content.append(linkify(text));
  item.append(meta, content);
  if (text.length > COLLAPSE_CHARS || text.split("\n").length > COLLAPSE_LINES) {
    content.classList.add("collapsed");
    content.id = `content-${newClientId()}`;
    const toggle = el("button", "ghost show-more", "Show more");
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-controls", content.id);
    toggle.addEventListener("click", () => {
      const expanded = content.classList.toggle("collapsed") === false;
      toggle.textContent = expanded ? "Show less" : "Show more";
      toggle.setAttribute("aria-expanded", String(expanded));
    });
    item.append(toggle);
  }
  return item;
}

export function renderMessage(message: ChatMessage): HTMLLIElement {
  const item = messageShell(message.username, message.content, message.user_id === me?.id);
  item.dataset.id = String(message.id);
  const time = el("time", "", formatTime(message.timestamp));
  time.dateTime = message.timestamp;
  time.title = new Date(message.timestamp).toLocaleString();
  item.querySelector(".meta")?.append(time);
  if (message.edited_at) item.querySelector(".meta")?.append(el("span", "edited", "edited"));
  return item;
}
