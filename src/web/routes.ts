// GET /chat and /chat/<asset>: the browser client, served from strings embedded at build time (see build.ts).
import { Elysia, NotFoundError } from "elysia";
import { assets, page } from "./assets.generated.ts";

export interface EmbeddedAsset {
  type: string;
  body: string;
}

// The page only uses its own origin; no user data ever goes through innerHTML, and this keeps it that way.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Serves one embedded asset with an ETag (304 on a match). */
export function responder(asset: EmbeddedAsset, cacheControl: string, extra: Record<string, string> = {}) {
  const body = new TextEncoder().encode(asset.body);
  const etag = `"${Bun.hash(body).toString(36)}"`;
  const headers = {
    "content-type": asset.type,
    "cache-control": cacheControl,
    etag,
    "x-content-type-options": "nosniff",
    ...extra,
  };
  return (request: Request) =>
    request.headers.get("if-none-match") === etag
      ? new Response(null, { status: 304, headers })
      : new Response(body, { headers });
}

export function webRoutes() {
  // The page is revalidated on every load (cheap with the ETag); the assets carry a content hash in their name.
  const servePage = responder(page, "no-cache", {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "referrer-policy": "no-referrer",
  });
  const serveAsset = new Map(
    Object.entries(assets).map(([path, asset]) => [path, responder(asset, "public, max-age=31536000, immutable")]),
  );
  return new Elysia({ name: "web" })
    .get("/chat", ({ request }) => servePage(request), { detail: { hide: true } })
    .get(
      "/chat/:file",
      ({ request, path }) => {
        const serve = serveAsset.get(path);
        if (!serve) throw new NotFoundError();
        return serve(request);
      },
      { detail: { hide: true } },
    );
}
