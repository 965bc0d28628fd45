// Seeds a running chat server over its public HTTP API: the admin, users with tokens, rooms, a page of history.

export const PASSWORD = "bench-password-1";

export class Api {
  constructor(readonly base: string) {}

  async call<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 200)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async login(username: string): Promise<string> {
    return (await this.call<{ access_token: string }>("POST", "/auth/login", { username, password: PASSWORD }))
      .access_token;
  }

  async signup(username: string, role?: "admin"): Promise<void> {
    await this.call("POST", "/auth/signup", { username, email: `${username}@bench.test`, password: PASSWORD, role });
  }

  async createRoom(name: string, adminToken: string): Promise<number> {
    return (await this.call<{ id: number }>("POST", "/rooms/", { name }, adminToken)).id;
  }
}

/** Runs `fn` over `items` with at most `concurrency` calls at once, keeping the order of results. */
export async function pool<T, R>(
  items: T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

export interface Seeded {
  adminToken: string;
  /** One token per seeded user; scenarios reuse them round-robin. */
  tokens: string[];
  /** Room ids by group name. */
  rooms: Record<string, number[]>;
}

/**
 * On an empty database: the first signup with role admin becomes admin; then `users` users log in, the
 * rooms of each group are created, and `historyRoom` (when named) gets `historyMessages` messages.
 */
export async function seed(
  api: Api,
  plan: { users: number; rooms: Record<string, number>; historyRoom?: string; historyMessages?: number },
): Promise<Seeded> {
  await api.signup("admin", "admin");
  const adminToken = await api.login("admin");
  const names = Array.from({ length: plan.users }, (_, i) => `user${i}`);
  const tokens = await pool(names, 8, async (name) => {
    await api.signup(name);
    return api.login(name);
  });
  const rooms: Record<string, number[]> = {};
  for (const [group, count] of Object.entries(plan.rooms)) {
    rooms[group] = await pool(
      Array.from({ length: count }, (_, i) => `${group}-${i}`),
      8,
      (name) => api.createRoom(name, adminToken),
    );
  }
  const historyRoom = plan.historyRoom && rooms[plan.historyRoom]?.[0];
  if (historyRoom) {
    const messages = Array.from({ length: plan.historyMessages ?? 60 }, (_, i) => i);
    await pool(messages, 4, (i) =>
      api.call(
        "POST",
        `/rooms/${historyRoom}/messages`,
        { content: `history message ${i} `.padEnd(64, "x") },
        tokens[i % tokens.length],
      ),
    );
  }
  return { adminToken, tokens, rooms };
}
