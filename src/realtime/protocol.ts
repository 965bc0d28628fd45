// The live protocol on the server: the wire definition (wire.ts, shared with the browser client) and the parsing
// of client frames, which needs the server's validation rules.
import { MAX_ID } from "../ids.ts";
import { isStorableText, MESSAGE_LIMITS } from "../messages/model.ts";
import type { ClientWireFrame } from "./wire.ts";

export { CLOSE, frames, WS_LIMITS } from "./wire.ts";
export type { ClientWireFrame, PresenceUser } from "./wire.ts";

type FieldOf<Frame> = Frame extends unknown ? keyof Frame : never;
/** A client frame's fields, each of any value until checked; only the names the wire type has can be read. */
type WireFields = { [Field in FieldOf<ClientWireFrame>]?: unknown };

export type ClientFrame =
  | { type: "message"; content: string; clientId: string | null }
  | { type: "typing" }
  | { type: "read"; messageId: number }
  | { type: "auth"; token: string };

export interface FrameRefusal {
  code: "INVALID_JSON" | "INVALID_FRAME" | "UNKNOWN_TYPE";
  detail: string;
  clientId?: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Turns a frame as Bun hands it over (a string for a text frame, bytes for a binary one) into a frame or a
 * refusal. Some WebSocket clients only send binary frames, so UTF-8 bytes are read exactly like text.
 */
export function parseClientFrame(raw: unknown): ClientFrame | FrameRefusal {
  let frame = raw;
  if (frame instanceof Uint8Array) {
    try {
      frame = utf8.decode(frame);
    } catch {
      return { code: "INVALID_FRAME", detail: "Binary frames must hold UTF-8 JSON, as text frames do" };
    }
  }
  if (typeof frame === "string") {
    try {
      frame = JSON.parse(frame);
    } catch {
      return { code: "INVALID_JSON", detail: "Frame is not valid JSON" };
    }
  }
  if (typeof frame !== "object" || frame === null || Array.isArray(frame)) {
    return { code: "INVALID_FRAME", detail: "Frame must be a JSON object" };
  }
  const fields = frame as WireFields;
  const { type = "message", content, client_id: clientId } = fields;
  if (type === "typing") return { type: "typing" };
  if (type === "auth") {
    // Anything but a string is a token that fails to verify: refused, and the socket closed, like a bad token.
    const token = fields.token;
    return { type: "auth", token: typeof token === "string" ? token : "" };
  }
  if (type === "read") {
    const messageId = fields.message_id;
    if (typeof messageId !== "number" || !Number.isInteger(messageId) || messageId < 1 || messageId > MAX_ID) {
      return { code: "INVALID_FRAME", detail: `message_id must be a message id (an integer from 1 to ${MAX_ID})` };
    }
    return { type: "read", messageId };
  }
  if (type !== "message")
    return { code: "UNKNOWN_TYPE", detail: `Unknown frame type ${JSON.stringify(type).slice(0, 40)}` };
  const validClientId =
    clientId === undefined ||
    clientId === null ||
    (typeof clientId === "string" &&
      clientId.length > 0 &&
      clientId.length <= MESSAGE_LIMITS.clientIdMax &&
      isStorableText(clientId)); // else one such id in a batch would fail (PostgreSQL) or garble its neighbours' acks
  if (!validClientId) {
    return {
      code: "INVALID_FRAME",
      detail: `client_id must be a string of 1-${MESSAGE_LIMITS.clientIdMax} characters, without NUL or lone surrogates`,
    };
  }
  const id = typeof clientId === "string" ? clientId : undefined;
  if (typeof content !== "string") return { code: "INVALID_FRAME", detail: "content must be a string", clientId: id };
  return { type: "message", content, clientId: id ?? null };
}

export const roomTopic = (roomId: number) => `room:${roomId}`;
