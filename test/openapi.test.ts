// /docs/json says what the server does: request bodies take unknown fields (accepted and ignored, as the seed's
// FastAPI does), responses carry exactly their fields, and the document is the same before and after traffic, in
// development and in production.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { call, startServer } from "./process.ts";
import { createTestApp, dialect, type TestApp } from "./support.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.dispose());

type Schema = {
  type?: string;
  additionalProperties?: unknown;
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
};
type Operation = {
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
};

/** Every object schema inside `schema`, nested ones included, with where it was found. */
function objects(schema: Schema, at: string): [string, Schema][] {
  const found: [string, Schema][] = schema.type === "object" ? [[at, schema]] : [];
  for (const [name, property] of Object.entries(schema.properties ?? {}))
    found.push(...objects(property, `${at}.${name}`));
  if (schema.items) found.push(...objects(schema.items, `${at}[]`));
  for (const option of schema.anyOf ?? []) found.push(...objects(option, at));
  return found;
}

function operations(doc: { paths: Record<string, Record<string, Operation>> }): [string, Operation][] {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]): [string, Operation] => [`${method} ${path}`, op]),
  );
}

describe(`the OpenAPI document and unknown fields (${dialect})`, () => {
  test("request bodies declare unknown fields allowed, responses declare none, and both hold", async () => {
    const before = (await t.request("GET", "/docs/json")).json;
    let bodies = 0;
    for (const [name, op] of operations(before)) {
      for (const [type, { schema }] of Object.entries(op.requestBody?.content ?? {})) {
        bodies++;
        expect([`${name} ${type}`, schema.additionalProperties]).toEqual([`${name} ${type}`, true]);
      }
      // Closed (false), or unsaid at a response's top level, where @elysiajs/swagger leaves it out; never open.
      for (const [status, response] of Object.entries(op.responses)) {
        for (const { schema } of Object.values(response.content ?? {})) {
          for (const [at, object] of objects(schema, `${name} ${status}`))
            expect([at, object.additionalProperties ?? false]).toEqual([at, false]);
        }
      }
    }
    expect(bodies).toBeGreaterThanOrEqual(6);

    // Every route with a body, each sent an extra field: accepted, ignored, and never echoed.
    const extra = { foo: 1, nested: { bar: true } };
    const signup = await t.request("POST", "/auth/signup", {
      body: {
        username: "founder",
        email: "founder@example.com",
        password: "founder-password",
        role: "admin",
        ...extra,
      },
    });
    expect(signup.status).toBe(201);
    expect(signup.json.foo).toBeUndefined();
    const login = await t.request("POST", "/auth/login", {
      body: { username: "founder", password: "founder-password", ...extra },
    });
    expect(login.status).toBe(200);
    const token = login.json.access_token;
    const room = await t.request("POST", "/rooms/", { token, body: { name: "extras", ...extra } });
    expect(room.status).toBe(201);
    const posted = await t.request("POST", `/rooms/${room.json.id}/messages`, {
      token,
      body: { content: "hello", ...extra },
    });
    expect(posted.status).toBe(201);
    const edited = await t.request("PATCH", `/messages/${posted.json.id}`, {
      token,
      body: { content: "hello again", ...extra },
    });
    expect(edited.status).toBe(200);
    expect(edited.json.foo).toBeUndefined();
    const other = await t.user("other");
    const promoted = await t.request("PATCH", `/users/${other.id}`, { token, body: { role: "admin", ...extra } });
    expect(promoted.status).toBe(200);

    // Validating those requests changed nothing in the document.
    expect((await t.request("GET", "/docs/json")).json).toEqual(before);
  });
});

describe("the document in development and in production", () => {
  test("is the same, and a signup with an extra field is 201 in both", async () => {
    const documents = [];
    for (const NODE_ENV of ["development", "production"]) {
      const server = await startServer({ NODE_ENV, DATABASE_URL: "sqlite::memory:" });
      try {
        const signup = await call(server.url, "POST", "/auth/signup", {
          username: "extra",
          email: "extra@example.com",
          password: "password123",
          foo: 1,
        });
        expect([NODE_ENV, signup.status]).toEqual([NODE_ENV, 201]);
        documents.push((await call(server.url, "GET", "/docs/json")).json);
      } finally {
        await server.stop();
      }
    }
    expect(documents[1]).toEqual(documents[0]);
  });
});
