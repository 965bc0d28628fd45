// What was written and not yet sent when the person moved on: drafts, and messages still to deliver.
import { api, ApiError } from "./api.ts";
import { showNotice } from "./notices.ts";
import { me } from "./state.ts";
import type { PendingMessage } from "./timeline.ts";

/** A draft per person and room, kept in localStorage so it survives a reload. */
export const drafts = {
  key: (roomId: number) => `chat.draft.${me?.id ?? 0}.${roomId}`,
  get(roomId: number): string {
    return localStorage.getItem(this.key(roomId)) ?? "";
  },
  set(roomId: number, text: string): void {
    if (text.trim() === "") localStorage.removeItem(this.key(roomId));
    else localStorage.setItem(this.key(roomId), text);
  },
};

/**
 * Messages written in a room and not yet acknowledged when the person moved on: sent over HTTP with their
 * client_id (stored once however often they are sent), retried while the network is away, and handed back to the
 * room if the person returns first.
 */
export const outbox = {
  queued: new Map<number, { content: string; clientId: string }[]>(),
  timer: undefined as ReturnType<typeof setTimeout> | undefined,
  add(roomId: number, pending: PendingMessage[]): void {
    if (pending.length === 0) return;
    this.queued.set(roomId, [
      ...(this.queued.get(roomId) ?? []),
      ...pending.map(({ content, clientId }) => ({ content, clientId })),
    ]);
    void this.flush();
  },
  take(roomId: number): { content: string; clientId: string }[] {
    const list = this.queued.get(roomId) ?? [];
    this.queued.delete(roomId);
    return list;
  },
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    for (const [roomId, list] of [...this.queued]) {
      while (list.length > 0 && this.queued.get(roomId) === list) {
        const next = list[0]!;
        try {
          await api.postMessage(roomId, next.content, next.clientId);
        } catch (error) {
          // Unreachable: try again later. Refused (room gone, too long): say so and drop it.
          if (error instanceof ApiError && error.status !== 0 && error.status !== 429 && error.status < 500) {
            showNotice(`A message was not sent: ${error.message}`, "error");
          } else {
            this.timer = setTimeout(() => void this.flush(), 3000);
            return;
          }
        }
        list.shift();
      }
      if (this.queued.get(roomId) === list && list.length === 0) this.queued.delete(roomId);
    }
  },
};
