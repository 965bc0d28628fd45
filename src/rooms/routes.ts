// HTTP routes for rooms, their members and direct rooms. Who may do what is decided by the service and access.ts.
import { Elysia, t } from "elysia";
import { authGuard } from "../auth/guard.ts";
import { Detail } from "../auth/model.ts";
import type { AuthService } from "../auth/service.ts";
import { Id, IdParams } from "../ids.ts";
import {
  DirectBody,
  MemberBody,
  MemberResponse,
  RoomBody,
  RoomListQuery,
  RoomResponse,
  toMemberJson,
  toRoomJson,
} from "./model.ts";
import type { RoomService } from "./service.ts";
import type { RoomListing, UserRecord } from "../store/store.ts";

const NOT_YOURS = "A private or direct room you do not belong to answers 404 `ROOM_NOT_FOUND`, as a missing room does.";

export function roomRoutes(auth: AuthService, rooms: RoomService) {
  /** Rooms as JSON for `user`: named for them (direct rooms), with their read position and unread count. */
  async function described(user: UserRecord, list: RoomListing[]) {
    const activity = await rooms.activity(user, list);
    return list.map((room) => toRoomJson(room, user.id, activity.get(room.id)));
  }

  return new Elysia({ name: "room-routes", seed: rooms })
    .use(authGuard(auth))
    .post(
      "/rooms",
      async ({ body, user, set }) => {
        set.status = 201;
        return (await described(user, [await rooms.create(user, body)]))[0]!;
      },
      {
        auth: true,
        body: RoomBody,
        response: { 201: RoomResponse, 400: Detail, 401: Detail, 403: Detail },
        detail: {
          tags: ["rooms"],
          summary: "Create a room: public (admins) or private (anyone, who becomes its owner)",
        },
      },
    )
    .get("/rooms", async ({ user, query }) => described(user, await rooms.list(user, query.all)), {
      auth: true,
      query: RoomListQuery,
      response: { 200: t.Array(RoomResponse), 401: Detail, 403: Detail },
      detail: {
        tags: ["rooms"],
        summary: "List the public rooms and your private and direct rooms (`all=true`: every room, admins)",
      },
    })
    .get("/rooms/:id", async ({ params, user }) => (await described(user, [await rooms.get(user, params.id)]))[0]!, {
      auth: true,
      params: IdParams,
      response: { 200: RoomResponse, 401: Detail, 404: Detail },
      detail: { tags: ["rooms"], summary: "One room", description: NOT_YOURS },
    })
    .delete(
      "/rooms/:id",
      async ({ params, user, set }) => {
        await rooms.remove(user, params.id);
        set.status = 204;
      },
      {
        auth: true,
        params: IdParams,
        detail: {
          tags: ["rooms"],
          summary:
            "Delete a room and its messages (admins any room, owners their private room); its sockets close with 4404",
        },
      },
    )
    .get("/rooms/:id/members", async ({ params, user }) => (await rooms.members(user, params.id)).map(toMemberJson), {
      auth: true,
      params: IdParams,
      response: { 200: t.Array(MemberResponse), 401: Detail, 404: Detail, 409: Detail },
      detail: {
        tags: ["members"],
        summary: "The members of a private or direct room, oldest first (members only)",
        description: `${NOT_YOURS} A public room answers 409 \`ROOM_IS_PUBLIC\`.`,
      },
    })
    .post(
      "/rooms/:id/members",
      async ({ params, body, user, set }) => {
        const { member, created } = await rooms.addMember(user, params.id, body.username);
        set.status = created ? 201 : 200;
        return toMemberJson(member);
      },
      {
        auth: true,
        params: IdParams,
        body: MemberBody,
        response: { 200: MemberResponse, 201: MemberResponse, 401: Detail, 403: Detail, 404: Detail, 409: Detail },
        detail: {
          tags: ["members"],
          summary: "Add a member by exact username (owners and admins): 201, or 200 when already a member",
          description:
            `${NOT_YOURS} Public rooms answer 409 \`ROOM_IS_PUBLIC\`, direct rooms 409 \`ROOM_IS_DIRECT\`. ` +
            "The room gets `member_added`.",
        },
      },
    )
    .delete(
      "/rooms/:id/members/:user_id",
      async ({ params, user, set }) => {
        await rooms.removeMember(user, params.id, params.user_id);
        set.status = 204;
      },
      {
        auth: true,
        params: t.Object({ id: Id, user_id: Id }),
        response: { 401: Detail, 403: Detail, 404: Detail, 409: Detail },
        detail: {
          tags: ["members"],
          summary: "Remove a member (owners and admins remove anyone; a member removes themselves)",
          description:
            `${NOT_YOURS} The room gets \`member_removed\` and the member's sockets in it close with 4403. When the ` +
            "last owner leaves, the longest-standing member becomes owner; when the last member leaves, the room is deleted.",
        },
      },
    )
    .post(
      "/dms",
      async ({ body, user, set }) => {
        const { room, created } = await rooms.openDirect(user, body.username);
        set.status = created ? 201 : 200;
        return (await described(user, [room]))[0]!;
      },
      {
        auth: true,
        body: DirectBody,
        response: { 200: RoomResponse, 201: RoomResponse, 401: Detail, 404: Detail, 422: t.Any() },
        detail: {
          tags: ["rooms"],
          summary: "The direct room of you and another person: 201 when made, 200 with the same room afterwards",
          description:
            "Named, for each of you, after the other. A direct room with yourself is 422 `DIRECT_WITH_SELF`.",
        },
      },
    );
}
