// The signed-in session: a short-lived access token and the refresh token that renews it (docs/api.md, "Tokens and
// staying signed in"). Both are kept in localStorage, so a reload and every tab of this origin share one session. A tab
// refreshes before the access token expires, holding a Web Lock while it does, so two tabs never spend the same refresh
// token; the others take the new pair from storage (the `storage` event) and renew their sockets with it.

import type { TokenPair } from "../../auth/service.ts";

/** What POST /auth/login and POST /auth/refresh answer. */
export type { TokenPair };

interface Stored {
  access: string;
  refresh: string;
  /** Epoch ms by this browser's clock: when this access token is due for a refresh. */
  refreshAt: number;
}

export type RefreshOutcome = "ok" | "refused" | "unavailable";

const KEY = "chat.session";
const LOCK = "chat.session.refresh";
/** Refreshed when this share of the token's life has passed, so the sockets are renewed well before expiry... */
const REFRESH_SHARE = 0.8;
/** ...and at least this long before it, for a slow network or a busy machine (short lifetimes, as in tests). */
const REFRESH_MARGIN_MS = 2000;
/** A refresh that could not reach the server is tried again this much later (the token may still be good). */
const RETRY_MS = 5000;
/** How long the refreshing tab keeps the lock after writing the new pair, for it to reach the other tabs. */
const HANDOVER_MS = 1000;
/** How long a tab that lost a refresh race (without Web Locks) waits for the winner's pair to reach storage. */
const RACE_WAIT_MS = 3000;

function read(): Stored | null {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) ?? "null") as Partial<Stored> | null;
    if (typeof value?.access === "string" && typeof value.refresh === "string" && typeof value.refreshAt === "number") {
      return value as Stored;
    }
  } catch {
    // Not ours, or damaged: as good as signed out.
  }
  return null;
}

let current = read();
let timer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<(token: string | null) => void>();

/** Takes `next` as this tab's session, tells the page when its access token changed, and plans the next refresh. */
function adopt(next: Stored | null): void {
  const changed = next?.access !== current?.access;
  current = next;
  schedule();
  if (changed) for (const listener of listeners) listener(next?.access ?? null);
}

function schedule(delayMs = current ? current.refreshAt - Date.now() : 0): void {
  clearTimeout(timer);
  if (current) timer = setTimeout(() => void refresh(), Math.max(0, delayMs));
}

function store(pair: TokenPair): void {
  // Token times are whole seconds, so a token may end up to a second before `expires_in` says.
  const lifeMs = Math.max(0, pair.expires_in - 1) * 1000;
  const refreshInMs = Math.max(0, Math.min(lifeMs * REFRESH_SHARE, lifeMs - REFRESH_MARGIN_MS));
  const next: Stored = { access: pair.access_token, refresh: pair.refresh_token, refreshAt: Date.now() + refreshInMs };
  localStorage.setItem(KEY, JSON.stringify(next));
  adopt(next);
}

/** Resolves when another tab writes the session, or after `ms`. */
function storageChange(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(wait);
      window.removeEventListener("storage", onStorage);
      resolve();
    };
    const onStorage = (event: StorageEvent) => event.key === KEY && done();
    const wait = setTimeout(done, ms);
    window.addEventListener("storage", onStorage);
  });
}

/** Spends the stored refresh token, unless another tab has already replaced the access token `seen`. */
async function refreshOnce(seen: string | undefined): Promise<RefreshOutcome> {
  const stored = read();
  if (!stored) {
    adopt(null);
    return "refused";
  }
  // Another tab refreshed while this one waited for the lock: its pair is this tab's too.
  if (stored.access !== seen) {
    adopt(stored);
    return "ok";
  }
  let response: Response;
  try {
    response = await fetch("/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: stored.refresh }),
    });
  } catch {
    schedule(RETRY_MS);
    return "unavailable";
  }
  if (response.ok) {
    store((await response.json()) as TokenPair);
    return "ok";
  }
  if (response.status >= 500 || response.status === 429) {
    schedule(RETRY_MS);
    return "unavailable";
  }
  const code = ((await response.json().catch(() => null)) as { code?: unknown } | null)?.code;
  if (code === "REFRESH_TOKEN_SPENT") {
    // Another tab spent it a moment ago (a browser without Web Locks): its pair is on its way to storage.
    if (read()?.access === seen) await storageChange(RACE_WAIT_MS);
    const after = read();
    if (after && after.access !== seen) {
      adopt(after);
      return "ok";
    }
  }
  // Refused (expired, revoked, reused): the session is over in every tab.
  if (read()?.refresh === stored.refresh) localStorage.removeItem(KEY);
  adopt(null);
  return "refused";
}

let inFlight: Promise<RefreshOutcome> | null = null;

/** A newer access token, from the server or from another tab; one refresh at a time per tab and per browser. */
function refresh(): Promise<RefreshOutcome> {
  if (inFlight) return inFlight;
  const seen = current?.access;
  inFlight = new Promise<RefreshOutcome>((resolve) => {
    const run = async () => {
      const outcome = await refreshOnce(seen);
      resolve(outcome);
      // localStorage reaches the other tabs asynchronously (Chromium), after the lock could: it is held a moment
      // longer, so the next tab to take it reads the new pair instead of spending the old refresh token again.
      if (outcome === "ok") await new Promise((done) => setTimeout(done, HANDOVER_MS));
    };
    // Web Locks exist in secure contexts (https, localhost); elsewhere the server's grace for a spent token covers it.
    if (navigator.locks) navigator.locks.request(LOCK, run).catch(() => resolve("unavailable"));
    else void run();
  }).finally(() => (inFlight = null));
  return inFlight;
}

// Another tab refreshed, logged in or logged out.
window.addEventListener("storage", (event) => {
  if (event.key === KEY || event.key === null) adopt(read());
});
schedule();

export const session = {
  get token(): string | null {
    return current?.access ?? null;
  },
  /** After login: the pair every tab now uses. */
  start(pair: TokenPair): void {
    store(pair);
  },
  /** After logout: forgotten here and, through the storage event, in every other tab. */
  clear(): void {
    localStorage.removeItem(KEY);
    current = null;
    schedule();
  },
  refresh,
  /** Called with each new access token this tab adopts, or null when the session ended (refused, another tab). */
  onChange(listener: (token: string | null) => void): void {
    listeners.add(listener);
  },
};

/** The user id an access token names (its `sub`), to tell whether another tab's session is still this person's. */
export function tokenUserId(token: string): number | null {
  try {
    const payload = JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as { sub?: unknown };
    return typeof payload.sub === "string" ? Number(payload.sub) : null;
  } catch {
    return null;
  }
}
