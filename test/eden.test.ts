// The exported App type drives a typed Eden Treaty client: sign up, log in, create a room, post, read history.
import { treaty } from "@elysiajs/eden";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { App } from "../src/app.ts";
import { createTestApp, dialect, type TestApp } from "./support.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  t.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
});
afterAll(async () => {
  await t.app.stop();
  await t.dispose();
});

describe(`Eden Treaty on App (${dialect})`, () => {
  test("signup, login, create a room, post a message and read the history, all typed", async () => {
    const api = treaty<App>(`127.0.0.1:${t.app.server!.port}`);

    const signup = await api.auth.signup.post({
      username: "eden",
      email: "eden@example.com",
      password: "eden-password",
      role: "admin",
    });
    expect(signup.status).toBe(201);
    expect(signup.data?.role).toBe("admin");

    const login = await api.auth.login.post({ username: "eden", password: "eden-password" });
    const token: string = login.data!.access_token;
    const headers = { authorization: `Bearer ${token}` };

    const room = await api.rooms.post({ name: "typed", description: "from Eden" }, { headers });
    expect(room.status).toBe(201);
    const roomId: number = room.data!.id;

    const posted = await api
      .rooms({ id: roomId })
      .messages.post({ content: "hello, types", client_id: "eden-1" }, { headers });
    expect(posted.status).toBe(201);
    expect(posted.data?.content).toBe("hello, types");

    const history = await api.rooms({ id: roomId }).messages.get({ query: { limit: 10 }, headers });
    expect(history.status).toBe(200);
    const contents: string[] = history.data!.map((m) => m.content);
    expect(contents).toEqual(["hello, types"]);
    expect(history.data![0]!.user.username).toBe("eden");

    const refused = await api.rooms({ id: roomId }).messages.get({ query: {} });
    expect(refused.status).toBe(401);
    expect(refused.error?.value).toMatchObject({ detail: "Not authenticated" });
  });
});
