// 422 answers read as sentences that name the field and say what it takes, for every kind of rule.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestApp, dialect, type TestApp } from "./support.ts";

let t: TestApp;
let token: string;
beforeAll(async () => {
  t = await createTestApp();
  token = (await t.user("admin", { role: "admin" })).token;
});
afterAll(() => t.dispose());

const messages = async (method: string, path: string, body?: unknown) => {
  const answer = await t.request(method, path, { token, body });
  expect(answer.status).toBe(422);
  return (answer.json.detail as { msg: string }[]).map((d) => d.msg);
};

describe(`422 messages (${dialect})`, () => {
  test("say, in a sentence, what each field takes", async () => {
    expect(await messages("POST", "/auth/signup", { username: "a", email: "nope", password: "short" })).toEqual([
      "Username must be at least 3 characters long.",
      "Email must be an email address, like name@example.com.",
      "Password must be at least 8 characters long.",
    ]);
    expect(await messages("POST", "/auth/signup", {})).toEqual([
      "Username is required.",
      "Email is required.",
      "Password is required.",
    ]);
    expect(await messages("POST", "/rooms/", { name: "", visibility: "secret" })).toEqual([
      "Name must not be empty.",
      "Visibility must be one of: public, private.",
    ]);
    expect(await messages("POST", "/rooms/1/read", { message_id: 1.5 })).toEqual([
      "Message id must be a whole number.",
    ]);
    expect(await messages("PATCH", "/users/1", { role: "boss" })).toEqual(["Role must be one of: admin, user."]);
  });

  test("every message is one sentence, never the validator's shorthand", async () => {
    const all = [
      ...(await messages("POST", "/auth/signup", { username: "bad name!", email: 3, password: 12345678 })),
      ...(await messages("POST", "/auth/login", { username: "", password: "" })),
      ...(await messages("POST", "/rooms/", { name: "x".repeat(101), description: 7 })),
      ...(await messages("POST", "/rooms/1/read", { message_id: -1 })),
      ...(await messages("GET", "/rooms/0x1")),
      ...(await messages("GET", "/rooms/1/messages?limit=abc")),
      ...(await messages("POST", "/dms", { username: 5 })),
    ];
    for (const msg of all) {
      expect(msg).toMatch(/^[A-Z][\s\S]*\.$/);
      expect(msg).not.toMatch(/Property '|Expected |should be/);
    }
  });
});
