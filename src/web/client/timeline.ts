// One room's messages as the client knows them: stored ones ordered and deduplicated by id, and the user's own
// pending ones keyed by client_id until the server has stored them.
import type { MessageFrame } from "../../realtime/wire.ts";

/** A stored message: the live `message` frame's fields (history items are brought to this shape, api.ts). */
export type ChatMessage = Omit<MessageFrame, "type">;

export interface PendingMessage {
  clientId: string;
  content: string;
  /** sending: not acknowledged yet, resent after a reconnect; stored: acked, its `message` frame is on its way. */
  state: "sending" | "stored" | "failed";
  error?: string;
}

/** A v4 UUID; crypto.randomUUID exists only in secure contexts, and the client may be served over plain http. */
export function newClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class Timeline {
  readonly messages = new Map<number, ChatMessage>();
  readonly pending = new Map<string, PendingMessage>();
  private readonly ids: number[] = [];

  /** The highest stored id seen. */
  get lastId(): number {
    return this.ids.at(-1) ?? 0;
  }

  get firstId(): number | undefined {
    return this.ids[0];
  }

  /**
   * Adds a stored message and settles the pending one with its client_id. Returns null for one already known,
   * else the id of the stored message it goes before (null: after all of them).
   */
  add(message: ChatMessage): { before: number | null } | null {
    if (message.client_id !== null) this.pending.delete(message.client_id);
    if (this.messages.has(message.id)) return null;
    this.messages.set(message.id, message);
    let low = 0;
    let high = this.ids.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.ids[middle]! < message.id) low = middle + 1;
      else high = middle;
    }
    this.ids.splice(low, 0, message.id);
    return { before: this.ids[low + 1] ?? null };
  }

  update(id: number, changes: Pick<ChatMessage, "content" | "edited_at">): ChatMessage | null {
    const message = this.messages.get(id);
    if (!message) return null;
    Object.assign(message, { content: changes.content, edited_at: changes.edited_at });
    return message;
  }

  remove(id: number): boolean {
    if (!this.messages.delete(id)) return false;
    this.ids.splice(this.ids.indexOf(id), 1);
    return true;
  }

  addPending(content: string, clientId = newClientId()): PendingMessage {
    const pending: PendingMessage = { clientId, content, state: "sending" };
    this.pending.set(clientId, pending);
    return pending;
  }

  /** The server stored it as `id`; returns the pending message if its `message` frame has not arrived yet. */
  ack(clientId: string, id: number): PendingMessage | null {
    const pending = this.pending.get(clientId);
    if (!pending) return null;
    if (this.messages.has(id)) {
      this.pending.delete(clientId);
      return null;
    }
    pending.state = "stored";
    return pending;
  }

  fail(clientId: string, error: string): PendingMessage | null {
    const pending = this.pending.get(clientId);
    if (!pending || pending.state === "stored") return null;
    pending.state = "failed";
    pending.error = error;
    return pending;
  }

  /** Messages to (re)send on a fresh connection, oldest first. */
  unsent(): PendingMessage[] {
    return [...this.pending.values()].filter((p) => p.state === "sending");
  }
}
