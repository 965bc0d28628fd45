// HTTP routes for rooms: anyone signed in reads, admins create and delete.
import { Elysia, t } from "elysia";
import { authGuard } from "../auth/guard.ts";
import { Detail } from "../auth/model.ts";
import type { AuthService } from "../auth/service.ts";
import { IdParams } from "../ids.ts";
import { RoomBody, RoomResponse, toRoomJson } from "./model.ts";
import type { RoomService } from "./service.ts";

export function roomRoutes(auth: AuthService, rooms: RoomService) {
  return new Elysia({ name: "room-routes", seed: rooms })
    .use(authGuard(auth))
    .post(
      "/rooms",
      async ({ body, set }) => {
        set.status = 201;
        return toRoomJson(await rooms.create(body));
      },
      {
        admin: true,
        body: RoomBody,
        response: { 201: RoomResponse, 400: Detail, 401: Detail, 403: Detail },
        detail: { tags: ["rooms"], summary: "Create a room (admin)" },
      },
    )
    .get("/rooms", async () => (await rooms.list()).map(toRoomJson), {
      auth: true,
      response: { 200: t.Array(RoomResponse), 401: Detail },
      detail: { tags: ["rooms"], summary: "List rooms" },
    })
    .get("/rooms/:id", async ({ params }) => toRoomJson(await rooms.get(params.id)), {
      auth: true,
      params: IdParams,
      response: { 200: RoomResponse, 401: Detail, 404: Detail },
      detail: { tags: ["rooms"], summary: "One room" },
    })
    .delete(
      "/rooms/:id",
      async ({ params, set }) => {
        await rooms.remove(params.id);
        set.status = 204;
      },
      {
        admin: true,
        params: IdParams,
        detail: {
          tags: ["rooms"],
          summary: "Delete a room and its messages (admin); its live sockets are closed with 4404",
        },
      },
    );
}
