// The page's elements (by the ids chat.html gives them), and the helpers that find and make elements.

export const PHONE = matchMedia("(max-width: 720px)");

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from chat.html`);
  return element as T;
}

/** A new element with a class and, optionally, text. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = "",
  text?: string,
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

export const ui = {
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
