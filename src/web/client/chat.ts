// The chat page: log in or sign up, pick a room, and talk in it live. User data only ever reaches the page
// through textContent and attributes, never innerHTML.
import type { MESSAGE_LIMITS } from "../../messages/model.ts";
import { WS_LIMITS } from "../../realtime/wire.ts";
import { api, ApiError, session, whenUnauthorized, type Member, type Room, type SearchResult, type User } from "./api.ts";
import { tokenUserId } from "./session.ts";
import { RoomSocket, type ConnectionState, type EndReason, type PersonFrame, type PresenceUser, type ServerFrame } from "./room-socket.ts";
import { newClientId, Timeline, type ChatMessage, type PendingMessage } from "./timeline.ts";

/** History pages are as long as the server allows; the type keeps this in step with it (no server code is bundled). */
const PAGE_SIZE: (typeof MESSAGE_LIMITS)["pageMax"] = 100;
const JOIN_HISTORY = WS_LIMITS.historyOnJoin;
/** Messages shown before one opened from a search result (and the rest after it, page by page). */
const AROUND = 25;
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_SHOWN_MS = 3000;
const NEAR_BOTTOM_PX = 80;
/** Longer messages are shown collapsed, with "Show more". */
const COLLAPSE_CHARS = 700;
const COLLAPSE_LINES = 12;
const PHONE = matchMedia("(max-width: 720px)");

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from chat.html`);
  return element as T;
}

/** A new element with a class and, optionally, text. */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = "", text?: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

const ui = {
  authView: $("auth-view"),
  chatView: $("chat-view"),
  showLogin: $<HTMLButtonElement>("show-login"),
  showSignup: $<HTMLButtonElement>("show-signup"),
  loginForm: $<HTMLFormElement>("login-form"),
  signupForm: $<HTMLFormElement>("signup-form"),
  authError: $("auth-error"),
  authNotice: $("auth-notice"),
  setupNotice: $("setup-notice"),
  signupButton: $<HTMLButtonElement>("signup-button"),
  currentUser: $("current-user"),
  currentRole: $("current-role"),
  logoutButton: $<HTMLButtonElement>("logout-button"),
  sidebar: $("sidebar"),
  backdrop: $("sidebar-backdrop"),
  roomsToggle: $<HTMLButtonElement>("rooms-toggle"),
  roomList: $("room-list"),
  roomsEmpty: $("rooms-empty"),
  privateTitle: $("private-title"),
  privateList: $("private-list"),
  directList: $("direct-list"),
  dmForm: $<HTMLFormElement>("dm-form"),
  dmError: $("dm-error"),
  usersPanel: $<HTMLDetailsElement>("users-panel"),
  userList: $("user-list"),
  usersError: $("users-error"),
  newRoomForm: $<HTMLFormElement>("new-room-form"),
  newRoomError: $("new-room-error"),
  newRoomVisibility: $<HTMLSelectElement>("new-room-visibility"),
  newRoomPublic: $<HTMLOptionElement>("new-room-public"),
  roomTitle: $("room-title"),
  roomDescription: $("room-description"),
  connection: $("connection-state"),
  retryButton: $<HTMLButtonElement>("retry-button"),
  announcer: $("announcer"),
  room: document.querySelector<HTMLElement>("section.room")!,
  deleteRoomButton: $<HTMLButtonElement>("delete-room-button"),
  membersButton: $<HTMLButtonElement>("members-button"),
  membersPanel: $("members-panel"),
  memberList: $("member-list"),
  addMemberForm: $<HTMLFormElement>("add-member-form"),
  membersError: $("members-error"),
  leaveRoomButton: $<HTMLButtonElement>("leave-room-button"),
  onlinePanel: $("online-panel"),
  onlineCount: $("online-count"),
  onlineUsers: $("online-users"),
  notice: $("notice"),
  scroller: $("message-scroller"),
  loadEarlier: $<HTMLButtonElement>("load-earlier"),
  placeholder: $("room-placeholder"),
  messageList: $("message-list"),
  typing: $("typing"),
  messageForm: $<HTMLFormElement>("message-form"),
  messageInput: $<HTMLTextAreaElement>("message-input"),
  sendButton: $<HTMLButtonElement>("send-button"),
  searchForm: $<HTMLFormElement>("search-form"),
  searchError: $("search-error"),
  searchResults: $("search-results"),
  searchTitle: $("search-title"),
  searchList: $("search-list"),
  searchMore: $<HTMLButtonElement>("search-more"),
  searchClose: $<HTMLButtonElement>("search-close"),
};

let me: User | null = null;
let rooms: Room[] = [];
/** The server has no admin yet: sign-up asks for the role (the server decides). */
let adminNeeded = false;

// ---------------------------------------------------------------- accounts

/** `fromTab`: the person chose a tab, which keeps the focus (the tab pattern); otherwise the first field gets it. */
function showAuth(mode: "login" | "signup", notice = "", fromTab = false): void {
  leaveRoom();
  me = null;
  ui.chatView.hidden = true;
  ui.authView.hidden = false;
  ui.loginForm.hidden = mode !== "login";
  ui.signupForm.hidden = mode !== "signup";
  for (const [tab, selected] of [[ui.showLogin, mode === "login"], [ui.showSignup, mode === "signup"]] as const) {
    tab.setAttribute("aria-selected", String(selected));
    // The tab pattern: only the selected tab is in the tab order; the arrow keys move between them.
    tab.tabIndex = selected ? 0 : -1;
  }
  for (const input of document.querySelectorAll("#auth-view input")) input.removeAttribute("aria-invalid");
  ui.authError.textContent = "";
  ui.authNotice.textContent = notice;
  const form = mode === "login" ? ui.loginForm : ui.signupForm;
  if (!fromTab) form.querySelector("input")?.focus();
}

/** Asks the server whether it has an admin yet, and says so on the sign-up form when it has none. */
async function checkSetup(): Promise<boolean> {
  try {
    adminNeeded = !(await api.setup()).admin_exists;
  } catch {
    // A server that cannot say gets an ordinary sign-up; it would refuse an admin claim anyway.
    adminNeeded = false;
  }
  ui.setupNotice.hidden = !adminNeeded;
  ui.signupButton.textContent = adminNeeded ? "Create the admin account" : "Create account";
  return adminNeeded;
}

/** The form's named fields as strings. */
function fields(form: HTMLFormElement): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, value] of new FormData(form)) values[key] = String(value);
  return values;
}

/** Runs a form's submit action with its button disabled, showing a failure in `errorOut`. */
function onSubmit(form: HTMLFormElement, errorOut: HTMLElement, action: (values: Record<string, string>) => Promise<void>): void {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector<HTMLButtonElement>("button[type=submit]");
    if (button) button.disabled = true;
    errorOut.textContent = "";
    for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
    try {
      await action(fields(form));
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      errorOut.textContent = text;
      markInvalid(form, text);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

/**
 * The fields an error names ("Email must be ...") are marked invalid, and the first of them gets the focus; each
 * field's aria-describedby already points at the form's error line. An error naming none marks them all.
 */
function markInvalid(form: HTMLFormElement, text: string): void {
  const inputs = [...form.querySelectorAll<HTMLInputElement>("input:not([type=hidden])")];
  const named = inputs.filter((input) => new RegExp(`\\b${input.name.replace(/_/g, " ")}\\b`, "i").test(text));
  for (const input of named.length > 0 ? named : inputs) input.setAttribute("aria-invalid", "true");
  (named[0] ?? inputs[0])?.focus();
}

async function logIn(username: string, password: string): Promise<void> {
  session.start(await api.login(username, password));
  await enterChat();
}

async function enterChat(): Promise<void> {
  me = await api.me();
  ui.authView.hidden = true;
  ui.chatView.hidden = false;
  ui.currentUser.textContent = me.username;
  ui.currentRole.hidden = me.role !== "admin";
  // Anyone may make a private room; only admins a public one, which is what they make by default.
  const admin = me.role === "admin";
  ui.newRoomPublic.disabled = ui.newRoomPublic.hidden = !admin;
  ui.newRoomVisibility.hidden = !admin;
  ui.newRoomVisibility.value = admin ? "public" : "private";
  ui.usersPanel.hidden = !admin;
  ui.roomsEmpty.textContent = admin ? "No rooms yet: create the first one below." : "No public rooms yet. An admin creates them.";
  ui.usersPanel.open = false;
  startPersonSocket();
  await loadRooms();
  const wanted = Number(/^#room=(\d+)$/.exec(location.hash)?.[1]);
  const room = rooms.find((r) => r.id === wanted);
  if (room) joinRoom(room);
  else setSidebarOpen(true);
}

function endSession(notice: string): void {
  session.clear();
  closeSearch();
  personSocket?.stop();
  personSocket = null;
  history.replaceState(null, "", location.pathname);
  showAuth("login", notice);
  void checkSetup();
}

// ---------------------------------------------------------------- rooms

type RoomGroup = "public" | "private" | "direct";
const groupOf = (room: Room): RoomGroup => (room.kind === "direct" ? "direct" : room.visibility);

async function loadRooms(): Promise<void> {
  renderRooms(await api.rooms());
}

/** Public rooms, private rooms and direct messages, each in its own list. */
function renderRooms(list: Room[]): void {
  rooms = list;
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

const roomById = (id: number) => rooms.find((room) => room.id === id);

/** The room's unread badge, and the page title's total. */
function showUnread(room: Room, button = ui.sidebar.querySelector<HTMLElement>(`[data-room-id="${room.id}"]`)): void {
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
function readUpTo(room: Room, messageId: number): void {
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
function refreshRoomsSoon(): void {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void loadRooms().catch(() => {}), 1000);
}

/** A new message in a room, seen or not: the room's newest message moves, and one by someone else is unread. */
function noteArrival(room: Room, message: Pick<ChatMessage, "id" | "user_id" | "username" | "content" | "timestamp">): void {
  if (room.last_message && room.last_message.id >= message.id) return;
  room.last_message = { ...message, content: message.content.slice(0, 200) };
  if (message.user_id === me?.id || message.id <= (room.last_read_id ?? 0)) return;
  // A public room never read has no count (null) until it is read once.
  if (room.unread_count === null && room.last_read_id === null && room.visibility === "public") return;
  room.unread_count = (room.unread_count ?? 0) + 1;
  showUnread(room);
}

// ---------------------------------------------------------------- the person socket: the room list, live

let personSocket: RoomSocket<PersonFrame> | null = null;

/** GET /ws: rooms that appear or go for this person, their reads in other tabs, and activity for the badges. */
function startPersonSocket(): void {
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
      if (personSocket === socket && reason === "unauthorized") void tokenRefused(() => personSocket === socket && startPersonSocket());
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

// ---------------------------------------------------------------- people (admins)

async function loadUsers(): Promise<void> {
  ui.usersError.textContent = "";
  try {
    ui.userList.replaceChildren(...(await api.users()).map(renderUser));
  } catch (error) {
    ui.usersError.textContent = `Could not load people: ${(error as Error).message}`;
  }
}

function renderUser(user: User): HTMLLIElement {
  const item = el("li", "user-item");
  item.dataset.userId = String(user.id);
  item.dataset.testid = `user-${user.username}`;
  item.append(el("span", "user-name", user.username));
  if (user.role === "admin") item.append(el("span", "badge", "admin"));
  // No button for yourself: demoting yourself would end your own session (the change revokes your token).
  if (user.id === me?.id) return item;
  const button = el("button", "ghost", user.role === "admin" ? "Make user" : "Make admin");
  button.type = "button";
  button.addEventListener("click", async () => {
    button.disabled = true;
    ui.usersError.textContent = "";
    try {
      item.replaceWith(renderUser(await api.setRole(user.id, user.role === "admin" ? "user" : "admin")));
    } catch (error) {
      ui.usersError.textContent = (error as Error).message;
      button.disabled = false;
    }
  });
  item.append(button);
  return item;
}

function markActiveRoom(): void {
  for (const button of ui.sidebar.querySelectorAll<HTMLElement>("[data-room-id]")) {
    if (button.dataset.roomId === String(current?.room.id)) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

function setSidebarOpen(open: boolean): void {
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

/** Said once by screen readers (a polite live region). */
function announce(text: string): void {
  ui.announcer.textContent = text;
}

let noticeTimer: ReturnType<typeof setTimeout> | undefined;
function showNotice(text: string, kind: "info" | "error" = "info"): void {
  ui.notice.textContent = text;
  ui.notice.dataset.kind = kind;
  ui.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (ui.notice.hidden = true), 6000);
}

// ---------------------------------------------------------------- search

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
  ui.searchTitle.textContent = count === 0 ? `Nothing found for ${q}` : `${count}${page.next_before === null ? "" : "+"} found for ${q}`;
  ui.searchMore.hidden = page.next_before === null;
  ui.searchResults.hidden = false;
}

function closeSearch(): void {
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
  const unescape = (text: string) => text.replace(/&(?:amp|lt|gt|quot|#39);/g, (entity) => ENTITIES[entity]!);
  let marked = false;
  for (const part of html.split(/(<\/?mark>)/)) {
    if (part === "<mark>" || part === "</mark>") marked = part === "<mark>";
    else if (part) fragment.append(marked ? el("mark", "", unescape(part)) : unescape(part));
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

// ---------------------------------------------------------------- the open room

interface OpenRoom {
  room: Room;
  timeline: Timeline;
  socket: RoomSocket;
  /** While a gap after a `sync` is open: the id everything up to which is here (live ones may be past the gap). */
  syncedUpTo: number | null;
  syncing: boolean;
  /** An earlier-history page came back short: there is nothing older. */
  reachedStart: boolean;
  typists: Map<number, { username: string; timer: ReturnType<typeof setTimeout> }>;
  lastTypingSent: number;
  /** The "new messages" divider goes before the first message by someone else after this id (null: none). */
  dividerAfter: number | null;
  /** The newest id this page has told the server it read. */
  readSent: number;
  /** The join's history has been shown: messages from now on are new, and announced. */
  live: boolean;
  /** Everything up to this id was on screen at the bottom of a focused window: the next unseen message is "new". */
  seenUpTo: number | null;
  /** A private or direct room's members, once loaded. */
  members: Member[] | null;
}

let current: OpenRoom | null = null;

function joinRoom(room: Room): void {
  leaveRoom();
  setSidebarOpen(false);
  history.replaceState(null, "", `#room=${room.id}`);
  ui.roomTitle.textContent = room.name;
  ui.roomDescription.textContent = room.description ?? "";
  ui.placeholder.hidden = true;
  ui.deleteRoomButton.hidden = !canDelete(room, null);
  ui.membersButton.hidden = room.visibility === "public";
  ui.messageList.replaceChildren();
  ui.loadEarlier.hidden = true;
  ui.onlinePanel.hidden = false;
  ui.messageInput.disabled = false;
  ui.messageInput.value = drafts.get(room.id);
  fitComposer();
  const timeline = new Timeline();
  const open: OpenRoom = { room, timeline, socket: null!, syncedUpTo: null, syncing: false, reachedStart: false, typists: new Map(), lastTypingSent: 0, members: null,
    // A public room never read has no position, so nothing in it is "new"; a private one's everything is.
    dividerAfter: room.last_read_id ?? (room.visibility === "public" ? null : 0),
    readSent: room.last_read_id ?? 0,
    live: false,
    seenUpTo: null,
  };
  open.socket = new RoomSocket({
    url: (since) => {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      return `${scheme}//${location.host}/ws/${room.id}${since === undefined ? "" : `?since=${since}`}`;
    },
    token: () => session.token ?? "",
    resumeAfter: () => open.syncedUpTo ?? timeline.lastId,
    onOpen: () => {
      markSeen();
      for (const pending of timeline.unsent()) open.socket.send({ content: pending.content, client_id: pending.clientId });
    },
    onFrame: (frame) => current === open && handleFrame(open, frame),
    onState: (state, retryInMs) => current === open && showConnection(state, retryInMs),
    onEnd: (reason) => current === open && roomEnded(reason),
    whyNotRetry: () => whyNotRetry(room.id),
  });
  current = open;
  markActiveRoom();
  renderOnline([]);
  renderTyping(open);
  updateSendButton();
  // Messages queued here before a room switch and not sent yet come back, pending, and go out with the socket.
  for (const queued of outbox.take(room.id)) renderPending(timeline.addPending(queued.content, queued.clientId));
  open.socket.start();
  if (room.visibility === "private") void loadMembers(open);
  // On a phone, focusing would pop the keyboard over the history the user came to read.
  if (matchMedia("(min-width: 721px)").matches) ui.messageInput.focus();
}

function leaveRoom(): void {
  if (!current) return;
  // What was typed stays with its room; what was queued offline is still sent, once (client_id), over HTTP.
  drafts.set(current.room.id, ui.messageInput.value);
  outbox.add(current.room.id, current.timeline.unsent());
  current.socket.stop();
  for (const typist of current.typists.values()) clearTimeout(typist.timer);
  current = null;
  ui.roomTitle.textContent = "Pick a room";
  ui.roomDescription.textContent = "";
  ui.placeholder.hidden = false;
  ui.messageList.replaceChildren();
  ui.loadEarlier.hidden = true;
  ui.onlinePanel.hidden = true;
  ui.typing.textContent = "";
  ui.messageInput.disabled = true;
  ui.messageInput.value = "";
  ui.sendButton.disabled = true;
  ui.deleteRoomButton.hidden = true;
  ui.membersButton.hidden = true;
  setMembersOpen(false);
  showConnection("closed");
  markActiveRoom();
}

/** Asked after a handshake that never opened: a refused token or a deleted room is not worth retrying. */
async function whyNotRetry(roomId: number): Promise<EndReason | null> {
  try {
    await api.room(roomId);
    return null;
  } catch (error) {
    if (!(error instanceof ApiError)) return null;
    if (error.status === 401) return "unauthorized";
    if (error.status === 404) return "room-deleted";
    return null;
  }
}

/**
 * A socket closed with 1008: its token expired unrenewed (the page slept through the refresh) or was revoked. With a
 * refreshed token it opens again (`reopen`); a refused refresh ends the session.
 */
async function tokenRefused(reopen: () => void): Promise<void> {
  const outcome = await session.refresh();
  if (!me) return;
  if (outcome === "refused") return endSession("Your session has ended. Please log in again.");
  // A role change revokes the access tokens but not the session: the page starts again with the new role.
  const fresh = await api.me().catch(() => null);
  if (fresh && me && fresh.role !== me.role) {
    restarting ??= enterChat().catch(() => {}).finally(() => (restarting = null));
    return;
  }
  if (!restarting) reopen();
}
let restarting: Promise<void> | null = null;

function roomEnded(reason: EndReason): void {
  if (reason === "unauthorized") {
    const open = current;
    return void tokenRefused(() => open && current === open && joinRoom(open.room));
  }
  const name = current?.room.name ?? "The room";
  leaveRoom();
  history.replaceState(null, "", location.pathname);
  showNotice(reason === "removed" ? `You are no longer a member of ${name}.` : `${name} was deleted.`);
  setSidebarOpen(true);
  void loadRooms().catch(() => {});
}

let countdown: ReturnType<typeof setInterval> | undefined;

function showConnection(state: ConnectionState, retryInMs?: number): void {
  const labels: Record<ConnectionState, string> = {
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting…",
    offline: "Offline",
    closed: "",
  };
  const before = ui.connection.dataset.state;
  ui.connection.dataset.state = state;
  ui.connection.textContent = labels[state];
  // Who is online is not known while offline: the list stays, greyed out.
  ui.onlinePanel.classList.toggle("stale", state !== "connected");
  clearInterval(countdown);
  ui.retryButton.hidden = !(state === "reconnecting" && retryInMs);
  if (state === "reconnecting" && retryInMs) {
    const due = Date.now() + retryInMs;
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      ui.connection.textContent = `Reconnecting in ${seconds} s…`;
    };
    tick();
    countdown = setInterval(tick, 1000);
  }
  // Announced when it changes kind, not on every tick; "connecting" after "reconnecting" is not news.
  if (before !== state && (state === "connected" || state === "offline" || state === "reconnecting") && (before !== "idle" || state !== "connected")) {
    announce(state === "connected" ? "Connected." : state === "offline" ? "You are offline. Messages you send will wait." : "Connection lost. Reconnecting.");
  }
}

function handleFrame(open: OpenRoom, frame: ServerFrame): void {
  const { timeline } = open;
  switch (frame.type) {
    case "message": {
      const { type: _, ...message } = frame;
      const room = roomById(open.room.id);
      if (room) noteArrival(room, message);
      addMessages(open, [message]);
      if (open.live && message.user_id !== me?.id) announce(`${message.username}: ${message.content.slice(0, 300)}`);
      stopTyping(open, message.user_id);
      break;
    }
    case "ack": {
      const pending = timeline.ack(frame.client_id, frame.id);
      if (pending) renderPending(pending);
      else pendingElement(frame.client_id)?.remove();
      break;
    }
    case "error": {
      const pending = frame.client_id ? timeline.fail(frame.client_id, frame.detail) : null;
      if (pending) renderPending(pending);
      else showNotice(frame.detail, "error");
      break;
    }
    case "active_users":
      // The join's list comes after its history.
      if (!open.live) {
        open.live = true;
        markSeen();
      }
      renderOnline(frame.users);
      break;
    case "user_joined":
    case "user_left":
      if (frame.username !== me?.username) addSystemLine(frame.message, frame.timestamp);
      if (frame.type === "user_left") stopTyping(open, null, frame.username);
      break;
    case "typing":
      if (frame.user_id !== me?.id) startTyping(open, frame.user_id, frame.username);
      break;
    case "message_updated": {
      const message = timeline.update(frame.id, frame);
      const element = messageElement(frame.id);
      if (message && element) element.replaceWith(renderMessage(message));
      break;
    }
    case "message_deleted":
      if (timeline.remove(frame.id)) messageElement(frame.id)?.remove();
      break;
    case "sync":
      if (!frame.complete) void pageForward(open);
      else if (!open.syncing) open.syncedUpTo = null;
      break;
    case "read": {
      // Another tab of ours read a room (this one or any other).
      const room = roomById(frame.room_id);
      if (room) readUpTo(room, frame.message_id);
      if (frame.room_id === open.room.id) open.readSent = Math.max(open.readSent, frame.message_id);
      break;
    }
    case "member_added":
    case "member_removed":
      addSystemLine(
        frame.type === "member_added" ? `${frame.username} was added to the room` : `${frame.username} left the room`,
        new Date().toISOString(),
      );
      // The owner may have changed too (the last owner left): the list is read again.
      void loadMembers(open);
      break;
  }
}

// ---------------------------------------------------------------- members (private and direct rooms)

/** Admins delete any room; an owner their private room. */
function canDelete(room: Room, members: Member[] | null): boolean {
  if (me?.role === "admin") return true;
  return room.kind === "room" && members?.some((m) => m.user_id === me?.id && m.role === "owner") === true;
}

async function loadMembers(open: OpenRoom): Promise<void> {
  try {
    const members = await api.members(open.room.id);
    if (current !== open) return;
    open.members = members;
    renderMembers(open);
  } catch (error) {
    if (current === open) ui.membersError.textContent = `Could not load the members: ${(error as Error).message}`;
  }
}

function renderMembers(open: OpenRoom): void {
  const members = open.members ?? [];
  const mine = members.find((m) => m.user_id === me?.id);
  const manages = open.room.kind === "room" && (me?.role === "admin" || mine?.role === "owner");
  ui.membersButton.textContent = `Members (${members.length})`;
  ui.deleteRoomButton.hidden = !canDelete(open.room, members);
  ui.addMemberForm.hidden = !manages;
  ui.leaveRoomButton.hidden = open.room.kind !== "room" || !mine;
  ui.memberList.replaceChildren(
    ...members.map((member) => {
      const item = el("li", "user-item");
      item.dataset.testid = `member-${member.username}`;
      item.append(el("span", "user-name", member.username));
      if (member.role === "owner") item.append(el("span", "badge", "owner"));
      if (manages && member.user_id !== me?.id) {
        const remove = el("button", "ghost danger", "Remove");
        remove.type = "button";
        remove.setAttribute("aria-label", `Remove ${member.username}`);
        remove.addEventListener("click", () => void removeMember(open, member));
        item.append(remove);
      }
      return item;
    }),
  );
}

async function removeMember(open: OpenRoom, member: Member): Promise<void> {
  ui.membersError.textContent = "";
  try {
    await api.removeMember(open.room.id, member.user_id);
    if (current === open) await loadMembers(open);
  } catch (error) {
    ui.membersError.textContent = (error as Error).message;
  }
}

function setMembersOpen(open: boolean): void {
  ui.membersPanel.hidden = !open;
  ui.membersButton.setAttribute("aria-expanded", String(open));
  if (!open) {
    ui.memberList.replaceChildren();
    ui.membersError.textContent = "";
  }
}

/** The server sent what it could after `since`; the rest comes over HTTP, one page after another. */
async function pageForward(open: OpenRoom): Promise<void> {
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

function nearBottom(): boolean {
  const { scrollHeight, scrollTop, clientHeight } = ui.scroller;
  return scrollHeight - scrollTop - clientHeight < NEAR_BOTTOM_PX;
}

function addMessages(open: OpenRoom, messages: ChatMessage[], { scroll = true } = {}): void {
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

/** The "new messages" line, before the first message by someone else that was not read when it came. */
function placeDivider(open: OpenRoom): void {
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
function markSeen(): void {
  const open = current;
  if (!open || !document.hasFocus() || !nearBottom()) return;
  const newest = open.timeline.lastId;
  const room = roomById(open.room.id);
  open.seenUpTo = newest;
  // Until the divider is placed it follows what was seen, so it marks only what came unseen.
  if (open.dividerAfter !== null && !ui.messageList.querySelector(".new-divider")) open.dividerAfter = Math.max(open.dividerAfter, newest);
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

/** Where a message newer than every stored one goes: before the pending ones, after system lines. */
function firstAfterStored(): Element | null {
  return ui.messageList.querySelector(":scope > [data-client-id]");
}

function addSystemLine(text: string, timestamp: string): void {
  const stick = nearBottom();
  const line = el("li", "system", text);
  line.title = new Date(timestamp).toLocaleString();
  ui.messageList.insertBefore(line, firstAfterStored());
  if (stick) scrollToBottom();
}

function scrollToBottom(): void {
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
}

const messageElement = (id: number) => ui.messageList.querySelector(`:scope > [data-id="${id}"]`);
const pendingElement = (clientId: string) =>
  [...ui.messageList.querySelectorAll<HTMLElement>(":scope > [data-client-id]")].find((e) => e.dataset.clientId === clientId);

function formatTime(iso: string): string {
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

function messageShell(author: string, text: string, isMine: boolean): HTMLLIElement {
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

function renderMessage(message: ChatMessage): HTMLLIElement {
  const item = messageShell(message.username, message.content, message.user_id === me?.id);
  item.dataset.id = String(message.id);
  const time = el("time", "", formatTime(message.timestamp));
  time.dateTime = message.timestamp;
  time.title = new Date(message.timestamp).toLocaleString();
  item.querySelector(".meta")?.append(time);
  if (message.edited_at) item.querySelector(".meta")?.append(el("span", "edited", "edited"));
  return item;
}

/** Draws (or redraws in place) one of the user's own messages the server has not confirmed yet. */
function renderPending(pending: PendingMessage): void {
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

function updateSendButton(): void {
  ui.sendButton.disabled = !current || ui.messageInput.value.trim() === "";
}

// ---------------------------------------------------------------- drafts and the outbox

/** A draft per person and room, kept in localStorage so it survives a reload. */
const drafts = {
  key: (roomId: number) => `chat.draft.${me?.id ?? 0}.${roomId}`,
  get(roomId: number): string {
    return localStorage.getItem(this.key(roomId)) ?? "";
  },
  set(roomId: number, text: string): void {
    if (text.trim() === "") localStorage.removeItem(this.key(roomId));
    else localStorage.setItem(this.key(roomId), text);
  },
};

/**
 * Messages written in a room and not yet acknowledged when the person moved on: sent over HTTP with their
 * client_id (stored once however often they are sent), retried while the network is away, and handed back to the
 * room if the person returns first.
 */
const outbox = {
  queued: new Map<number, { content: string; clientId: string }[]>(),
  timer: undefined as ReturnType<typeof setTimeout> | undefined,
  add(roomId: number, pending: PendingMessage[]): void {
    if (pending.length === 0) return;
    this.queued.set(roomId, [...(this.queued.get(roomId) ?? []), ...pending.map(({ content, clientId }) => ({ content, clientId }))]);
    void this.flush();
  },
  take(roomId: number): { content: string; clientId: string }[] {
    const list = this.queued.get(roomId) ?? [];
    this.queued.delete(roomId);
    return list;
  },
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    for (const [roomId, list] of [...this.queued]) {
      while (list.length > 0 && this.queued.get(roomId) === list) {
        const next = list[0]!;
        try {
          await api.postMessage(roomId, next.content, next.clientId);
        } catch (error) {
          // Unreachable: try again later. Refused (room gone, too long): say so and drop it.
          if (error instanceof ApiError && error.status !== 0 && error.status !== 429 && error.status < 500) {
            showNotice(`A message was not sent: ${error.message}`, "error");
          } else {
            this.timer = setTimeout(() => void this.flush(), 3000);
            return;
          }
        }
        list.shift();
      }
      if (this.queued.get(roomId) === list && list.length === 0) this.queued.delete(roomId);
    }
  },
};

// ---------------------------------------------------------------- presence and typing

function renderOnline(users: PresenceUser[]): void {
  ui.onlineCount.textContent = String(users.length);
  ui.onlineUsers.replaceChildren(
    ...users.map((user) => {
      const item = el("li", user.user_id === me?.id ? "person me" : "person", user.username);
      item.dataset.userId = String(user.user_id);
      return item;
    }),
  );
}

function startTyping(open: OpenRoom, userId: number, username: string): void {
  clearTimeout(open.typists.get(userId)?.timer);
  const timer = setTimeout(() => stopTyping(open, userId), TYPING_SHOWN_MS);
  open.typists.set(userId, { username, timer });
  renderTyping(open);
}

function stopTyping(open: OpenRoom, userId: number | null, username?: string): void {
  for (const [id, typist] of open.typists) {
    if (id !== userId && typist.username !== username) continue;
    clearTimeout(typist.timer);
    open.typists.delete(id);
  }
  if (current === open) renderTyping(open);
}

function renderTyping(open: OpenRoom): void {
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

function noteTyping(): void {
  const open = current;
  if (!open || ui.messageInput.value.trim() === "") return;
  const now = Date.now();
  if (now - open.lastTypingSent < TYPING_SEND_EVERY_MS) return;
  if (open.socket.send({ type: "typing" })) open.lastTypingSent = now;
}

/** The composer grows with its text, up to a few lines. */
function fitComposer(): void {
  ui.messageInput.style.height = "auto";
  ui.messageInput.style.height = `${Math.min(ui.messageInput.scrollHeight, 160)}px`;
}

// ---------------------------------------------------------------- wiring

ui.showLogin.addEventListener("click", () => showAuth("login", "", true));
ui.showSignup.addEventListener("click", () => showAuth("signup", "", true));
for (const tab of [ui.showLogin, ui.showSignup]) {
  tab.addEventListener("keydown", (event) => {
    if (!["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) return;
    event.preventDefault();
    const signup = event.key === "End" || (event.key !== "Home" && tab === ui.showLogin);
    showAuth(signup ? "signup" : "login", "", true);
    (signup ? ui.showSignup : ui.showLogin).focus();
  });
}

onSubmit(ui.loginForm, ui.authError, async ({ username = "", password = "" }) => {
  await logIn(username, password);
  ui.loginForm.reset();
});

onSubmit(ui.signupForm, ui.authError, async ({ username = "", email = "", password = "" }) => {
  let notice = "";
  if (adminNeeded) {
    try {
      await api.signup(username, email, password, true);
    } catch (error) {
      // Someone else became the admin since the page asked: the claim is refused, an ordinary account is not.
      if (!(error instanceof ApiError && error.status === 403)) throw error;
      await api.signup(username, email, password);
      notice = "Someone else became the admin first, so you signed up as a regular user.";
    }
    await checkSetup();
  } else {
    await api.signup(username, email, password);
  }
  await logIn(username, password);
  ui.signupForm.reset();
  if (notice) showNotice(notice);
});

onSubmit(ui.newRoomForm, ui.newRoomError, async ({ name = "", description = "", visibility = "private" }) => {
  const room = await api.createRoom(name.trim(), description.trim() || null, visibility === "public" ? "public" : "private");
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

onSubmit(ui.addMemberForm, ui.membersError, async ({ username = "" }) => {
  const open = current;
  if (!open) return;
  await api.addMember(open.room.id, username.trim());
  ui.addMemberForm.reset();
  // The room's member_added frame reloads the list too; this makes it certain for the one who added.
  if (current === open) await loadMembers(open);
});

ui.membersButton.addEventListener("click", () => {
  const opening = ui.membersPanel.hidden === true;
  setMembersOpen(opening);
  if (opening && current) {
    if (current.members) renderMembers(current);
    void loadMembers(current);
  }
});

ui.leaveRoomButton.addEventListener("click", async () => {
  const open = current;
  if (!open || !me || !confirm(`Leave ${open.room.name}? You will need to be added again to come back.`)) return;
  try {
    await api.removeMember(open.room.id, me.id);
    if (current === open) roomEnded("removed");
  } catch (error) {
    ui.membersError.textContent = (error as Error).message;
  }
});

ui.deleteRoomButton.addEventListener("click", async () => {
  const open = current;
  if (!open || !confirm(`Delete ${open.room.name} and all its messages for everyone?`)) return;
  ui.deleteRoomButton.disabled = true;
  try {
    await api.deleteRoom(open.room.id);
    // Its socket closes with 4404 too; whichever comes first ends the room here, the other finds it gone.
    if (current === open) roomEnded("room-deleted");
  } catch (error) {
    showNotice(`Could not delete ${open.room.name}: ${(error as Error).message}`, "error");
  } finally {
    ui.deleteRoomButton.disabled = false;
  }
});

ui.logoutButton.addEventListener("click", async () => {
  // Logging out revokes the token on the server; the page forgets it either way.
  await api.logout().catch(() => {});
  endSession("You have logged out.");
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
ui.retryButton.addEventListener("click", () => current?.socket.retryNow());
// Opened on demand, and read afresh each time: people sign up while the admin is chatting.
ui.usersPanel.addEventListener("toggle", () => {
  if (ui.usersPanel.open) void loadUsers();
});
ui.loadEarlier.addEventListener("click", () => void loadEarlier());
onSubmit(ui.searchForm, ui.searchError, async ({ q = "" }) => runSearch(q.trim(), null));
ui.searchMore.addEventListener("click", () => {
  if (search?.nextBefore != null) void runSearch(search.q, search.nextBefore).catch((error: Error) => (ui.searchError.textContent = error.message));
});
ui.searchClose.addEventListener("click", () => {
  closeSearch();
  ui.searchForm.reset();
  $("search-input").focus();
});

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

window.addEventListener("focus", () => markSeen());
ui.scroller.addEventListener("scroll", () => markSeen(), { passive: true });
window.addEventListener("online", () => {
  current?.socket.setOnline(true);
  personSocket?.setOnline(true);
  void outbox.flush();
});
window.addEventListener("offline", () => {
  current?.socket.setOnline(false);
  personSocket?.setOnline(false);
});

whenUnauthorized(() => endSession("Your session has ended. Please log in again."));
// A refresh here or in another tab: the open sockets renew in place; a session ended elsewhere ends here too.
session.onChange((token) => {
  if (!me) return;
  if (token === null) return endSession("Your session has ended. Please log in again.");
  // Another tab logged in as someone else, and this page now holds their session: it starts again as them.
  if (tokenUserId(token) !== me.id) return location.reload();
  current?.socket.renew();
  personSocket?.renew();
});

if (session.token) {
  ui.authView.hidden = true;
  enterChat().catch((error: unknown) => {
    if (!(error instanceof ApiError && error.status === 401)) showAuth("login", (error as Error).message);
  });
} else {
  showAuth("login");
  // A server without an admin opens on the sign-up form, which says that this account becomes the admin.
  void checkSetup().then((needed) => {
    if (needed && !ui.authView.hidden && ui.signupForm.hidden) showAuth("signup");
  });
}
