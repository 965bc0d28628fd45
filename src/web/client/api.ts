// The HTTP side of the server as the client uses it: the session token, JSON requests, and the shapes they return.
// Every shape is the server's own (type imports only, so no server code is bundled): a change to one that the page
// does not follow fails the type-check.
import type { Static } from "@sinclair/typebox";
import type { SetupResponse, toAdminUserJson, toUserJson } from "../../auth/model.ts";
import type { toMessageJson } from "../../messages/model.ts";
import type { toMemberJson, toRoomJson } from "../../rooms/model.ts";
import type { SearchService } from "../../search/service.ts";
import { session, type TokenPair } from "./session.ts";
import type { ChatMessage } from "./timeline.ts";

/** An account as GET /auth/me answers it; GET /users adds `disabled`. */
export type User = ReturnType<typeof toUserJson>;
type AdminUser = ReturnType<typeof toAdminUserJson>;
export type Room = ReturnType<typeof toRoomJson>;
export type Member = ReturnType<typeof toMemberJson>;
/** A history item: the message with its author as an object (toChatMessage flattens it). */
type HistoryItem = ReturnType<typeof toMessageJson>;
type SearchPage = Awaited<ReturnType<SearchService["search"]>>;

/** A GET /search result: a history item, its room's name, and the matching part with `<mark>` around the words. */
export type SearchResult = ChatMessage & Pick<SearchPage["results"][number], "room_name" | "snippet">;

export { session };

/** A failed request, with the server's `detail` made readable. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Called when the server refuses the token, so the page can go back to the login form. */
let onUnauthorized: () => void = () => {};
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

function describe(status: number, body: unknown): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return detail;
  // Validation failures (422) list one sentence per field.
  if (Array.isArray(detail))
    return detail.map((item: { msg?: string }) => item.msg ?? "A field is not valid.").join(" ");
  return `Request failed (${status})`;
}

async function request<T>(method: string, path: string, body?: unknown, retried = false): Promise<T> {
  const headers: Record<string, string> = {};
  const token = session.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "Cannot reach the server");
  }
  const text = await response.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // A proxy's HTML error page: the status says enough.
  }
  if (!response.ok) {
    if (response.status === 401 && token) {
      // The access token expired (a sleeping laptop) or was revoked: once, with a refreshed one.
      const outcome = retried ? "refused" : await session.refresh();
      if (outcome === "ok") return request<T>(method, path, body, true);
      if (outcome === "refused") onUnauthorized();
    }
    throw new ApiError(response.status, describe(response.status, json));
  }
  return json as T;
}

const toChatMessage = ({ user, ...rest }: HistoryItem): ChatMessage => ({ ...rest, username: user.username });

export const api = {
  /** `admin`: ask to be the first admin, which the server grants only while it has none (else 403). */
  signup: (username: string, email: string, password: string, admin = false) =>
    request<User>("POST", "/auth/signup", { username, email, password, ...(admin ? { role: "admin" } : {}) }),
  setup: () => request<Static<typeof SetupResponse>>("GET", "/auth/setup"),
  login: (username: string, password: string) => request<TokenPair>("POST", "/auth/login", { username, password }),
  me: () => request<User>("GET", "/auth/me"),
  logout: () => request<void>("POST", "/auth/logout"),
  rooms: () => request<Room[]>("GET", "/rooms/"),
  room: (id: number) => request<Room>("GET", `/rooms/${id}`),
  createRoom: (name: string, description: string | null, visibility: Room["visibility"]) =>
    request<Room>("POST", "/rooms/", { name, description, visibility }),
  deleteRoom: (id: number) => request<void>("DELETE", `/rooms/${id}`),
  members: (roomId: number) => request<Member[]>("GET", `/rooms/${roomId}/members`),
  addMember: (roomId: number, username: string) => request<Member>("POST", `/rooms/${roomId}/members`, { username }),
  removeMember: (roomId: number, userId: number) => request<void>("DELETE", `/rooms/${roomId}/members/${userId}`),
  /** The direct room with `username`, made on first use. */
  openDirect: (username: string) => request<Room>("POST", "/dms", { username }),
  postMessage: (roomId: number, content: string, clientId: string) =>
    request<unknown>("POST", `/rooms/${roomId}/messages`, { content, client_id: clientId }),
  markRead: (roomId: number, messageId: number) =>
    request<void>("POST", `/rooms/${roomId}/read`, { message_id: messageId }),
  users: () => request<AdminUser[]>("GET", "/users"),
  setRole: (id: number, role: User["role"]) => request<AdminUser>("PATCH", `/users/${id}`, { role }),
  /** Newest match first; `before` (a `next_before`) pages back. */
  async search(q: string, before: number | null): Promise<{ results: SearchResult[]; next_before: number | null }> {
    const query = new URLSearchParams({ q, ...(before === null ? {} : { before: String(before) }) });
    const page = await request<SearchPage>("GET", `/search?${query}`);
    return {
      ...page,
      results: page.results.map((item) => ({
        ...toChatMessage(item),
        room_name: item.room_name,
        snippet: item.snippet,
      })),
    };
  },
  /** `after`: oldest first from that id; `before`: newest first, returned here oldest first. */
  async messages(
    roomId: number,
    cursor: { after: number } | { before: number },
    limit: number,
  ): Promise<ChatMessage[]> {
    const query = "after" in cursor ? `after=${cursor.after}` : `before=${cursor.before}`;
    const page = await request<HistoryItem[]>("GET", `/rooms/${roomId}/messages?${query}&limit=${limit}`);
    const messages = page.map(toChatMessage);
    return "before" in cursor ? messages.reverse() : messages;
  },
};
