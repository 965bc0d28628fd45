// Bare-Bun baseline: relays the chat server's socket frames over Bun pub/sub, with no auth and no storage.
// bench/floor.ts passes `store`, which commits each frame before it goes out: the storage floor.
import { parseArgs } from "node:util";

type Client = { topic: string; roomId: number | string; userId: number; username: string };
export type RelayFrame = { ws: Bun.ServerWebSocket<Client>; content: string; clientId: string | undefined };
/** Takes a frame and calls `deliver` with its id once it is stored. */
export type RelayStore = (frame: RelayFrame, deliver: (id: number) => void) => void;

export interface Relay {
  port: number;
  stop(): void;
}

export function startRelay(port = 0, store?: RelayStore): Relay {
  // Ids are per process, like one chat server instance's view of a sequence.
  let lastMessageId = 0;
  let lastUserId = 0;

  const deliver = ({ ws, content, clientId }: RelayFrame, id: number) => {
    const { topic, roomId, userId, username } = ws.data;
    const timestamp = new Date().toISOString();
    server.publish(
      topic,
      JSON.stringify({
        type: "message",
        id,
        content,
        username,
        user_id: userId,
        timestamp,
        room_id: roomId,
        client_id: clientId,
      }),
    );
    ws.send(JSON.stringify({ type: "ack", client_id: clientId, id }));
  };
  const accept = store
    ? (frame: RelayFrame) => store(frame, (id) => deliver(frame, id))
    : (frame: RelayFrame) => deliver(frame, ++lastMessageId);

  const server = Bun.serve({
    port,
    hostname: "127.0.0.1",
    fetch(req, server) {
      const path = new URL(req.url).pathname;
      // /ready as well: the startup scenario times both binaries to a 200 there (the relay has nothing to wait for).
      if (path === "/health") return Response.json({ status: "healthy" });
      if (path === "/ready") return Response.json({ status: "ready" });
      const room = path.startsWith("/ws/") ? path.slice(4) : "";
      // The floor stores room ids as the server does: integers.
      if (room === "" || room.includes("/") || (store && !/^\d+$/.test(room)))
        return new Response("Not Found", { status: 404 });
      const userId = ++lastUserId;
      const data: Client = {
        topic: `room:${room}`,
        roomId: /^\d+$/.test(room) ? Number(room) : room,
        userId,
        username: `user${userId}`,
      };
      if (server.upgrade(req, { data })) return;
      return new Response("Upgrade Required", { status: 426 });
    },
    websocket: {
      data: {} as Client,
      open(ws) {
        ws.subscribe(ws.data.topic);
      },
      message(ws, raw) {
        let frame: { content?: unknown; client_id?: unknown };
        try {
          frame = JSON.parse(typeof raw === "string" ? raw : raw.toString());
        } catch {
          ws.send('{"type":"error","code":"BAD_JSON","detail":"frame is not JSON"}');
          return;
        }
        const clientId = typeof frame.client_id === "string" ? frame.client_id : undefined;
        if (typeof frame.content !== "string") {
          ws.send(
            JSON.stringify({
              type: "error",
              code: "BAD_FRAME",
              detail: "content must be a string",
              client_id: clientId,
            }),
          );
          return;
        }
        accept({ ws, content: frame.content, clientId });
      },
    },
  });

  return { port: server.port!, stop: () => void server.stop(true) };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { port: { type: "string", default: "0" } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`bad --port: ${values.port}`);
    process.exit(2);
  }
  // A full collection on request: the connections scenario reads RSS after one, as it does for the server.
  process.on("SIGUSR2", () => Bun.gc(true));
  console.log(`listening ${startRelay(port).port}`);
}
