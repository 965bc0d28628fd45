// The members of a private or direct room: the list, adding and removing people, and leaving.
import { api, type Member, type Room } from "./api.ts";
import { el, ui } from "./dom.ts";
import { onSubmit } from "./forms.ts";
import { roomEnded } from "./room.ts";
import { current, me, type OpenRoom } from "./state.ts";

/** Admins delete any room; an owner their private room. */
export function canDelete(room: Room, members: Member[] | null): boolean {
  if (me?.role === "admin") return true;
  return room.kind === "room" && members?.some((m) => m.user_id === me?.id && m.role === "owner") === true;
}

export async function loadMembers(open: OpenRoom): Promise<void> {
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

export function setMembersOpen(open: boolean): void {
  ui.membersPanel.hidden = !open;
  ui.membersButton.setAttribute("aria-expanded", String(open));
  if (!open) {
    ui.memberList.replaceChildren();
    ui.membersError.textContent = "";
  }
}

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
