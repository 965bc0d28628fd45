// The chat page: log in or sign up, pick a room, and talk in it live. User data only ever reaches the page
// through textContent and attributes, never innerHTML.
//
// Each part of the page is a module that wires its own elements when loaded; the imports below load them all.
// What they share: dom.ts (the page's elements), state.ts (who is signed in, their rooms, the open room),
// forms.ts and notices.ts. The server's side is reached through api.ts and room-socket.ts.
import { start } from "./account.ts"; // log in, sign up, the session's end
import "./composer.ts"; // writing and sending, typing notices
import "./connection.ts"; // the open room's connection state and "Retry"
import "./history.ts"; // earlier messages, and the pages a reconnect could not bring
import "./members.ts"; // a private room's members
import { outbox } from "./outbox.ts"; // drafts, and messages still to deliver
import "./people.ts"; // admins: everyone's role
import { personSocket } from "./person-socket.ts"; // the room list, live
import "./room.ts"; // the open room and its frames
import "./search.ts";
import "./sidebar.ts"; // the room lists, new rooms, direct messages, the phone drawer
import { current } from "./state.ts";
import "./unread.ts"; // badges, the "new messages" divider, read positions
// Not wired to elements of their own: message-list.ts, message-view.ts (one message drawn), presence.ts.

window.addEventListener("online", () => {
  current?.socket.setOnline(true);
  personSocket?.setOnline(true);
  void outbox.flush();
});
window.addEventListener("offline", () => {
  current?.socket.setOnline(false);
  personSocket?.setOnline(false);
});

start();
