// The open room: joining and leaving it, its socket, what its frames do to the page, and why it ended.
import { tokenRefused } from "./account.ts";
import { api, ApiError, session, type Room } from "./api.ts";
import { fitComposer, updateSendButton } from "./composer.ts";
import { showConnection } from "./connection.ts";
import { ui } from "./dom.ts";
import { pageForward } from "./history.ts";
import { canDelete, loadMembers, setMembersOpen } from "./members.ts";
import { addMessages, addSystemLine, messageElement, pendingElement, renderPending } from "./message-list.ts";
import { renderMessage } from "./message-view.ts";
import { announce, showNotice } from "./notices.ts";
import { drafts, outbox } from "./outbox.ts";
import { renderOnline, renderTyping, startTyping, stopTyping } from "./presence.ts";
import { RoomSocket, type EndReason, type ServerFrame } from "./room-socket.ts";
import { loadRooms, markActiveRoom, setSidebarOpen } from "./sidebar.ts";
import { current, me, roomById, setCurrent, type OpenRoom } from "./state.ts";
import { Timeline } from "./timeline.ts";
import { markSeen, noteArrival, readUpTo } from "./unread.ts";

export function joinRoom(room: Room): void {
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
  const open: OpenRoom = {
    room,
    timeline,
    socket: null!,
    syncedUpTo: null,
    syncing: false,
    reachedStart: false,
    typists: new Map(),
    lastTypingSent: 0,
    members: null,
    // A public room never read has no position, so nothing in it is "new"; a private one's everything is.
    dividerAfter: room.last_read_id ?? (room.visibility === "public" ? null : 0),
    readSent: room.last_read_id ?? 0,
    live: false,
    newestAtJoin: room.last_message?.id ?? 0,
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
      for (const pending of timeline.unsent())
        open.socket.send({ content: pending.content, client_id: pending.clientId });
    },
    onFrame: (frame) => current === open && handleFrame(open, frame),
    onState: (state, retryInMs) => current === open && showConnection(state, retryInMs),
    onEnd: (reason) => current === open && roomEnded(reason),
    whyNotRetry: () => whyNotRetry(room.id),
  });
  setCurrent(open);
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

export function leaveRoom(): void {
  if (!current) return;
  // What was typed stays with its room; what was queued offline is still sent, once (client_id), over HTTP.
  drafts.set(current.room.id, ui.messageInput.value);
  outbox.add(current.room.id, current.timeline.unsent());
  current.socket.stop();
  for (const typist of current.typists.values()) clearTimeout(typist.timer);
  setCurrent(null);
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

export function roomEnded(reason: EndReason): void {
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

function handleFrame(open: OpenRoom, frame: ServerFrame): void {
  const { timeline } = open;
  switch (frame.type) {
    case "message": {
      const { type: _, ...message } = frame;
      // History comes in id order, so a message newer than the room had when it was opened is news.
      if (message.id > open.newestAtJoin) open.live = true;
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
