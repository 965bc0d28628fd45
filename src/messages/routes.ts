// HTTP routes for history (cursor pages), posting for HTTP-only clients, and edits and deletes.
import { Elysia, t } from "elysia";
import { authGuard } from "../auth/guard.ts";
import { Detail } from "../auth/model.ts";
import type { AuthService } from "../auth/service.ts";
import { IdParams } from "../ids.ts";
import {
  EditMessageBody,
  HistoryQuery,
  MESSAGE_LIMITS,
  MessageResponse,
  PostMessageBody,
  toMessageJson,
} from "./model.ts";
import type { MessageService } from "./service.ts";

const JSON_HEADERS = { "content-type": "application/json" };

export function messageRoutes(auth: AuthService, messages: MessageService) {
  return new Elysia({ name: "message-routes", seed: messages })
    .use(authGuard(auth))
    .get(
      "/rooms/:id/messages",
      // The body arrives as rendered JSON (often cached); the response schema below documents it.
      async ({ params, query, user }) =>
        new Response(await messages.history(user, params.id, query), { headers: JSON_HEADERS }),
      {
        auth: true,
        params: IdParams,
        query: HistoryQuery,
        response: { 200: t.Array(MessageResponse), 401: Detail, 404: Detail, 422: t.Any() },
        detail: {
          tags: ["messages"],
          summary: "A page of a room's history",
          description:
            `Newest first. \`before=<id>\` pages back from a message, \`after=<id>\` pages forward (oldest first), ` +
            `\`skip\` is the seed's offset (at most ${MESSAGE_LIMITS.skipMax}); use at most one of them. ` +
            `\`limit\` defaults to ${MESSAGE_LIMITS.pageDefault}, at most ${MESSAGE_LIMITS.pageMax}.`,
        },
      },
    )
    .post(
      "/rooms/:id/messages",
      async ({ params, body, user, set }) => {
        set.status = 201;
        return toMessageJson(await messages.post(params.id, user, body.content, body.client_id ?? null));
      },
      {
        auth: true,
        params: IdParams,
        body: PostMessageBody,
        response: { 201: MessageResponse, 401: Detail, 404: Detail, 422: t.Any(), 429: Detail },
        detail: {
          tags: ["messages"],
          summary: "Post a message (for bots and HTTP-only clients)",
          description:
            `Stored, then broadcast to the room's sockets. Content is trimmed, 1-${MESSAGE_LIMITS.contentMax} characters. ` +
            "A repeated `client_id` returns the message stored the first time and stores nothing new. " +
            "Shares the author's message rate with their sockets: past it, 429 `RATE_LIMITED` with Retry-After.",
        },
      },
    )
    .patch(
      "/messages/:id",
      async ({ params, body, user }) => toMessageJson(await messages.edit(params.id, user, body.content)),
      {
        auth: true,
        params: IdParams,
        body: EditMessageBody,
        response: { 200: MessageResponse, 401: Detail, 403: Detail, 404: Detail, 422: t.Any() },
        detail: { tags: ["messages"], summary: "Edit your message; the room gets `message_updated`" },
      },
    )
    .delete(
      "/messages/:id",
      async ({ params, user, set }) => {
        await messages.remove(params.id, user);
        set.status = 204;
      },
      {
        auth: true,
        params: IdParams,
        detail: { tags: ["messages"], summary: "Delete a message (author or admin); the room gets `message_deleted`" },
      },
    );
}
