// Compile-time checks, made by `bun run typecheck` (CI's type-check step; bun test does not run this file): the
// browser client's frames are the server's and strict, so reading or sending a field the other side does not have
// is a type error. Each @ts-expect-error fails the type-check if its line stops being an error.
import { frames } from "../src/realtime/protocol.ts";
import type { ChatMessage } from "../src/web/client/timeline.ts";
import type { RoomSocket, PersonFrame, ServerFrame } from "../src/web/client/room-socket.ts";

declare const frame: ServerFrame;
declare const personFrame: PersonFrame;
declare const socket: RoomSocket;

// What the server's builders make is what the client's handlers take.
export const built: ServerFrame[] = [frames.read(1, 2), frames.ack("c", 3), frames.sync(false), frames.deleted(4, 1)];

export function reads(): unknown[] {
  const seen: unknown[] = [];
  if (frame.type === "read") {
    seen.push(frame.message_id);
    // @ts-expect-error: the read frame says message_id
    seen.push(frame.messageId);
  }
  if (frame.type === "message") {
    const message: ChatMessage = frame;
    // @ts-expect-error: a message frame names its author by username, not by a user object
    seen.push(message.user.username);
  }
  // @ts-expect-error: no room socket frame has this type
  if (frame.type === "room_added") seen.push(frame);
  if (personFrame.type === "room_removed") {
    // @ts-expect-error: the person socket says why a room went: "deleted" or "removed"
    if (personFrame.reason === "left") seen.push(personFrame);
  }
  return seen;
}

export function sends(): void {
  socket.send({ content: "hi", client_id: "c" });
  socket.send({ type: "read", message_id: 1 });
  // @ts-expect-error: a read position is message_id
  socket.send({ type: "read", messageId: 1 });
  // @ts-expect-error: the server reads no such frame
  socket.send({ type: "edit", id: 1, content: "x" });
}
