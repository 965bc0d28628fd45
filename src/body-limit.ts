// Request bodies over MAX_REQUEST_BODY_BYTES get 413 before anything parses or hashes them; a body that cannot be
// read (malformed chunks, cut off) is a 400, never an unhandled error.
import { Elysia } from "elysia";
import { AppError } from "./errors.ts";

/** Largest HTTP request body accepted (bytes). */
export const MAX_REQUEST_BODY_BYTES = 64 * 1024;

/**
 * The client's error for a request body that could not be read, or undefined when `error` is something else:
 * over Bun's maxRequestBodySize is 413; a malformed chunk or a client that closed before the body ended (Bun
 * answers the first with 400 and closes) is 400.
 */
export function unreadableBody(error: unknown): AppError | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.message.includes("maxRequestBodySize")) return new AppError("BODY_TOO_LARGE");
  if (error.name === "AbortError") return new AppError("BODY_INCOMPLETE");
  return undefined;
}

/** True when the stream carries more than `max` bytes; stops reading as soon as it does. */
async function longerThan(body: ReadableStream<Uint8Array>, max: number): Promise<boolean> {
  const reader = body.getReader();
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read().catch((error: unknown) => {
        throw unreadableBody(error) ?? error;
      });
      if (done) return false;
      total += value.byteLength;
      if (total > max) return true;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/**
 * Bun.serve's maxRequestBodySize only holds when main.ts listens; this holds for the app itself too (app.handle,
 * or a server started without that option), so the limit does not depend on who serves the app.
 */
export function bodyLimit(max = MAX_REQUEST_BODY_BYTES) {
  return new Elysia({ name: "body-limit" }).onRequest(async ({ request }) => {
    if (!request.body) return;
    const declared = request.headers.get("content-length");
    if (declared !== null) {
      if (Number(declared) > max) throw new AppError("BODY_TOO_LARGE");
      return;
    }
    // No declared length (chunked, or a Request built in-process): count a copy's bytes, at most max + 1 of them.
    if (await longerThan(request.clone().body!, max)) throw new AppError("BODY_TOO_LARGE");
  });
}
