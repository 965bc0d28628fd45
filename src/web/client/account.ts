// Signing in and out: the log-in and sign-up forms (and the first admin), entering the chat, and the session's end,
// here or in another tab.
import { api, ApiError, session, whenUnauthorized } from "./api.ts";
import { ui } from "./dom.ts";
import { onSubmit } from "./forms.ts";
import { showNotice } from "./notices.ts";
import { personSocket, startPersonSocket, stopPersonSocket } from "./person-socket.ts";
import { joinRoom, leaveRoom } from "./room.ts";
import { closeSearch } from "./search.ts";
import { tokenUserId } from "./session.ts";
import { loadRooms, setSidebarOpen } from "./sidebar.ts";
import { current, me, rooms, setMe } from "./state.ts";

/** The server has no admin yet: sign-up asks for the role (the server decides). */
let adminNeeded = false;

/** `fromTab`: the person chose a tab, which keeps the focus (the tab pattern); otherwise the first field gets it. */
function showAuth(mode: "login" | "signup", notice = "", fromTab = false): void {
  leaveRoom();
  setMe(null);
  ui.chatView.hidden = true;
  ui.authView.hidden = false;
  ui.loginForm.hidden = mode !== "login";
  ui.signupForm.hidden = mode !== "signup";
  for (const [tab, selected] of [
    [ui.showLogin, mode === "login"],
    [ui.showSignup, mode === "signup"],
  ] as const) {
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

async function logIn(username: string, password: string): Promise<void> {
  session.start(await api.login(username, password));
  await enterChat();
}

async function enterChat(): Promise<void> {
  const user = await api.me();
  setMe(user);
  ui.authView.hidden = true;
  ui.chatView.hidden = false;
  ui.currentUser.textContent = user.username;
  ui.currentRole.hidden = user.role !== "admin";
  // Anyone may make a private room; only admins a public one, which is what they make by default.
  const admin = user.role === "admin";
  ui.newRoomPublic.disabled = ui.newRoomPublic.hidden = !admin;
  ui.newRoomVisibility.hidden = !admin;
  ui.newRoomVisibility.value = admin ? "public" : "private";
  ui.usersPanel.hidden = !admin;
  ui.roomsEmpty.textContent = admin
    ? "No rooms yet: create the first one below."
    : "No public rooms yet. An admin creates them.";
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
  stopPersonSocket();
  history.replaceState(null, "", location.pathname);
  showAuth("login", notice);
  void checkSetup();
}

/**
 * A socket closed with 1008: its token expired unrenewed (the page slept through the refresh) or was revoked. With a
 * refreshed token it opens again (`reopen`); a refused refresh ends the session.
 */
export async function tokenRefused(reopen: () => void): Promise<void> {
  const outcome = await session.refresh();
  if (!me) return;
  if (outcome === "refused") return endSession("Your session has ended. Please log in again.");
  // A role change revokes the access tokens but not the session: the page starts again with the new role.
  const fresh = await api.me().catch(() => null);
  if (fresh && me && fresh.role !== me.role) {
    restarting ??= enterChat()
      .catch(() => {})
      .finally(() => (restarting = null));
    return;
  }
  if (!restarting) reopen();
}
let restarting: Promise<void> | null = null;

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

ui.logoutButton.addEventListener("click", async () => {
  // Logging out revokes the token on the server; the page forgets it either way.
  await api.logout().catch(() => {});
  endSession("You have logged out.");
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

/** The page's first view: the chat for a stored session, else the log-in form (sign-up on a server with no admin). */
export function start(): void {
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
}
