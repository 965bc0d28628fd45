// The admins' list of people, where they make someone an admin or a user.
import { api, type User } from "./api.ts";
import { el, ui } from "./dom.ts";
import { me } from "./state.ts";

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

// Opened on demand, and read afresh each time: people sign up while the admin is chatting.
ui.usersPanel.addEventListener("toggle", () => {
  if (ui.usersPanel.open) void loadUsers();
});
