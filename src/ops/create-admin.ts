// `chat-server create-admin --username U --email E`: creates an admin account straight in the store. The password
// comes from ADMIN_PASSWORD or stdin, never from an argument (arguments show up in `ps` and shell history).
import { Value } from "@sinclair/typebox/value";
import { parseArgs } from "node:util";
import { SignupBody } from "../auth/model.ts";
import { createPasswordHasher } from "../auth/password.ts";
import type { Config } from "../config.ts";
import { openStore } from "../store/open.ts";
import { SqliteInUseError } from "../store/sqlite/store.ts";
import { ConflictError, type Store } from "../store/store.ts";

export const CREATE_ADMIN_USAGE = "create-admin --username U --email E";

/** Returns the process exit code: 0 created, 1 refused (name or email taken), 2 bad input. */
export async function createAdmin(
  args: string[],
  config: Config,
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  let values: { username?: string; email?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: { username: { type: "string" }, email: { type: "string" } },
      strict: true,
    }));
  } catch (error) {
    console.error(`error: ${(error as Error).message}\nusage: chat-server ${CREATE_ADMIN_USAGE}`);
    return 2;
  }
  const password = env.ADMIN_PASSWORD ?? (await readPassword());
  const input = { username: values.username ?? "", email: values.email ?? "", password };
  const problems = [...Value.Errors(SignupBody, input)].map((e) => `${e.path.slice(1)}: ${e.message}`);
  if (problems.length > 0) {
    console.error(`error: ${problems.join("; ")}\nusage: chat-server ${CREATE_ADMIN_USAGE}`);
    return 2;
  }

  let store: Store;
  try {
    store = await openStore(config.database, { poolSize: 1 });
  } catch (error) {
    if (error instanceof SqliteInUseError) {
      console.error(
        `error: ${error.path} is held by a running chat server: stop the server first, run create-admin, then start it ` +
          "again (or, while there is no admin, sign up in /chat: the first account becomes the admin)",
      );
    } else {
      console.error(`error: ${(error as Error).message}`);
    }
    return 1;
  }
  try {
    const passwordHash = await createPasswordHasher(config.bcryptCost).hash(password);
    const user = await store.createUser({
      username: input.username,
      email: input.email,
      passwordHash,
      role: "admin",
      createdAt: new Date(),
    });
    console.log(`created admin ${user.username} (id ${user.id})`);
    return 0;
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    // An existing account is left as it is: promoting one is what PATCH /users/{id} is for.
    console.error(
      `error: ${error.field} ${JSON.stringify(error.field === "email" ? input.email : input.username)} is already taken; nothing changed`,
    );
    return 1;
  } finally {
    await store.close();
  }
}

/** A line typed without echo on a terminal, or everything piped in (one trailing newline dropped). */
async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) return (await Bun.stdin.text()).replace(/\r?\n$/, "");
  process.stderr.write("Password: ");
  process.stdin.setRawMode(true);
  let typed = "";
  try {
    for await (const chunk of process.stdin) {
      for (const ch of String(chunk)) {
        if (ch === "\r" || ch === "\n") return typed;
        if (ch === "\u0003") process.exit(130); // Ctrl-C: raw mode delivers it as a character
        typed = ch === "\u007f" ? typed.slice(0, -1) : typed + ch;
      }
    }
    return typed;
  } finally {
    process.stdin.setRawMode(false);
    process.stdin.pause();
    process.stderr.write("\n");
  }
}
