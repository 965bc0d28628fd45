// HTTP body schemas, closed on purpose. Left unsaid, Elysia writes `additionalProperties: false` into a schema the
// first time its route validates, so /docs/json depended on the traffic before it was first read.
import type { ObjectOptions, TProperties } from "@sinclair/typebox";
import { t } from "elysia";

/**
 * What a client sends. Fields it does not name are accepted and ignored, as the seed (FastAPI) ignores them:
 * closed here, Elysia copies only the named fields out of the body before validating (so an unknown field, however
 * deep, costs nothing), and docs/routes.ts documents request bodies as open, which is what a client sees.
 */
export const requestObject = <T extends TProperties>(properties: T, options: ObjectOptions = {}) =>
  t.Object(properties, { ...options, additionalProperties: false });

/** What the server sends: these fields and no others (Elysia drops anything else). */
export const responseObject = <T extends TProperties>(properties: T, options: ObjectOptions = {}) =>
  t.Object(properties, { ...options, additionalProperties: false });
