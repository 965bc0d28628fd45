// The open room's connection, as the page shows it: the state line, the countdown to the next try, and "Retry".
import { ui } from "./dom.ts";
import { announce } from "./notices.ts";
import type { ConnectionState } from "./room-socket.ts";
import { current } from "./state.ts";

let countdown: ReturnType<typeof setInterval> | undefined;

export function showConnection(state: ConnectionState, retryInMs?: number): void {
  const labels: Record<ConnectionState, string> = {
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting…",
    offline: "Offline",
    closed: "",
  };
  const before = ui.connection.dataset.state;
  ui.connection.dataset.state = state;
  ui.connection.textContent = labels[state];
  // Who is online is not known while offline: the list stays, greyed out.
  ui.onlinePanel.classList.toggle("stale", state !== "connected");
  clearInterval(countdown);
  ui.retryButton.hidden = !(state === "reconnecting" && retryInMs);
  if (state === "reconnecting" && retryInMs) {
    const due = Date.now() + retryInMs;
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      ui.connection.textContent = `Reconnecting in ${seconds} s…`;
    };
    tick();
    countdown = setInterval(tick, 1000);
  }
  // Announced when it changes kind, not on every tick; "connecting" after "reconnecting" is not news.
  if (
    before !== state &&
    (state === "connected" || state === "offline" || state === "reconnecting") &&
    (before !== "idle" || state !== "connected")
  ) {
    announce(
      state === "connected"
        ? "Connected."
        : state === "offline"
          ? "You are offline. Messages you send will wait."
          : "Connection lost. Reconnecting.",
    );
  }
}

ui.retryButton.addEventListener("click", () => current?.socket.retryNow());
