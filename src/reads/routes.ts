// POST /rooms/{id}/read: move your read position in a room.
import { Elysia, t } from "elysia";
import { authGuard } from "../auth/guard.ts";
import { Detail } from "../auth/model.ts";
import type { AuthService } from "../auth/service.ts";
import { IdParams, MAX_ID } from "../ids.ts";
import { requestObject } from "../schemas.ts";
import type { ReadService } from "./service.ts";

export function readRoutes(auth: AuthService, reads: ReadService) {
  return new Elysia({ name: "read-routes", seed: reads }).use(authGuard(auth)).post(
    "/rooms/:id/read",
    async ({ params, body, user, set }) => {
      await reads.markRead(user, params.id, body.message_id);
      set.status = 204;
    },
    {
      auth: true,
      params: IdParams,
      body: requestObject({ message_id: t.Integer({ minimum: 1, maximum: MAX_ID }) }),
      response: { 401: Detail, 404: Detail, 422: t.Any() },
      detail: {
        tags: ["rooms"],
        summary: "Mark a room read up to a message: 204",
        description:
          "Your position only moves forward: an older id changes nothing, and one past the room's newest message stops " +
          'there. Your other sockets, on every instance, get `{"type":"read","room_id","message_id"}`.',
      },
    },
  );
}
