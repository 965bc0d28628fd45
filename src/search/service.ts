// Search over the history a user can read: parses the query, resolves from:/in: and room_id (through the one
// access function), asks the store, and adds each result's room name and snippet.
import type { UserRecord, Store } from "../store/store.ts";
import { toMessageJson } from "../messages/model.ts";
import type { RoomAccessControl } from "../rooms/access.ts";
import { toRoomJson } from "../rooms/model.ts";
import { parseQuery, SEARCH_LIMITS } from "./query.ts";
import { snippet } from "./snippet.ts";

export interface SearchParams {
  q: string;
  room_id?: number;
  before?: number;
  limit?: number;
}

export type SearchService = ReturnType<typeof createSearchService>;

export function createSearchService(deps: { store: Store; access: RoomAccessControl }) {
  const { store, access } = deps;

  /** Rooms the user can read whose name (for a direct room, the other person's) is one of `names`, ignoring case. */
  async function roomsNamed(user: UserRecord, names: readonly string[]): Promise<number[]> {
    const wanted = new Set(names.map((n) => n.toLowerCase()));
    const rooms = await store.listRoomListings({ readerId: user.id });
    return rooms.filter((room) => wanted.has(toRoomJson(room, user.id).name.toLowerCase())).map((room) => room.id);
  }

  async function authorsNamed(names: readonly string[]): Promise<number[]> {
    const found = await Promise.all(names.map((name) => store.findUserByUsername(name)));
    return found.flatMap((user) => (user ? [user.id] : []));
  }

  return {
    async search(user: UserRecord, params: SearchParams) {
      const parsed = parseQuery(params.q);
      const limit = params.limit ?? SEARCH_LIMITS.pageDefault;
      const none = { results: [], next_before: null };
      let roomIds: number[] | null = null;
      // A room the user cannot read is ROOM_NOT_FOUND, as on every other route.
      if (params.room_id !== undefined) roomIds = [(await access.read(user, params.room_id)).room.id];
      if (parsed.in.length > 0) {
        const named = await roomsNamed(user, parsed.in);
        roomIds = roomIds ? roomIds.filter((id) => named.includes(id)) : named;
      }
      const authorIds = parsed.from.length > 0 ? await authorsNamed(parsed.from) : null;
      if (roomIds?.length === 0 || authorIds?.length === 0) return none;

      const hits = await store.searchMessages({
        readerId: user.id,
        terms: parsed.terms,
        roomIds,
        authorIds,
        before: params.before ?? null,
        limit,
      });
      return {
        results: hits.map((hit) => ({
          ...toMessageJson(hit.message),
          room_name: hit.roomName,
          snippet: snippet(hit.message.content, parsed.terms),
        })),
        next_before: hits.length === limit ? hits[hits.length - 1]!.message.id : null,
      };
    },
  };
}
