// GET /docs: Swagger UI from swagger-ui-dist, embedded in the program (no CDN), on the OpenAPI document at /docs/json.
import { swagger } from "@elysiajs/swagger";
import { Elysia, NotFoundError } from "elysia";
import bundle from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "text" };
import css from "swagger-ui-dist/swagger-ui.css" with { type: "text" };
import { responder } from "../web/routes.ts";

export const DOCS_ASSETS = "/docs/assets/";

// A file rather than an inline script, so the page's policy can forbid inline scripts.
const boot = `window.ui = SwaggerUIBundle(${JSON.stringify({
  url: "/docs/json",
  dom_id: "#swagger-ui",
  persistAuthorization: true,
  // Swagger UI would otherwise send the document to validator.swagger.io.
  validatorUrl: null,
  deepLinking: true,
})});`;

const page = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Bun chat server API</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="${DOCS_ASSETS}swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${DOCS_ASSETS}swagger-ui-bundle.js"></script>
    <script src="${DOCS_ASSETS}boot.js"></script>
  </body>
</html>
`;

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  // Swagger UI sets style attributes from script.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

// The source map comments name files we do not serve.
const withoutSourceMap = (text: string) => text.replace(/\n\/[/*]# sourceMappingURL=\S+\s*(\*\/)?\s*$/, "\n");

type OpenApiDocument = {
  paths?: Record<
    string,
    Record<string, { requestBody?: { content?: Record<string, { schema?: { additionalProperties?: unknown } }> } }>
  >;
};

/**
 * Request bodies accept fields they do not name (Elysia drops them: see src/schemas.ts), so the document says so,
 * whatever their validator says. Idempotent: the plugin keeps one document object and hands it out each time.
 */
function openRequestBodies(document: OpenApiDocument): OpenApiDocument {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      for (const media of Object.values(operation.requestBody?.content ?? {})) {
        if (media.schema && "additionalProperties" in media.schema) media.schema.additionalProperties = true;
      }
    }
  }
  return document;
}

export function docsRoutes(documentation: { title: string; version: string; description: string }) {
  const js = "text/javascript; charset=utf-8";
  const assets = new Map([
    ["swagger-ui-bundle.js", responder({ type: js, body: withoutSourceMap(bundle) }, "no-cache")],
    ["swagger-ui.css", responder({ type: "text/css; charset=utf-8", body: withoutSourceMap(css) }, "no-cache")],
    ["boot.js", responder({ type: js, body: boot }, "no-cache")],
  ]);
  const servePage = responder({ type: "text/html; charset=utf-8", body: page }, "no-cache", {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "referrer-policy": "no-referrer",
  });
  const plugin = swagger({
    path: "/docs",
    specPath: "/docs/json",
    provider: "swagger-ui",
    exclude: ["/", "/health", "/ready", "/metrics", "/docs", "/docs/json"],
    documentation: {
      info: documentation,
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
    },
  })
    // Replaces the plugin's own page, which loads Swagger UI from a CDN (a later route with the same path wins).
    .get("/docs", ({ request }) => servePage(request), { detail: { hide: true } })
    .get(
      `${DOCS_ASSETS}:file`,
      ({ request, params }) => {
        const serve = assets.get(params.file);
        if (!serve) throw new NotFoundError();
        return serve(request);
      },
      { detail: { hide: true } },
    );
  // A local hook: it sees the plugin's /docs/json, and no route outside this plugin.
  return new Elysia({ name: "docs" })
    .onAfterHandle(({ path, response }) => {
      if (path === "/docs/json" && response && typeof response === "object")
        openRequestBodies(response as OpenApiDocument);
    })
    .use(plugin);
}
