// Bun's publish never blocks, so a reader that stops reading grows its send buffer: one timer for all sockets
// closes those past the limit (1013), and they reconnect with `since`.
import { CLOSE, WS_LIMITS } from "./protocol.ts";
import type { SocketRegistry } from "./sockets.ts";

export interface SlowConsumerSweep {
  /** A socket was tracked: the sweep runs while any room has one. */
  watch(): void;
  /** A socket went: the sweep stops when it was the last. */
  settle(): void;
}

export function createSlowConsumerSweep(
  sockets: SocketRegistry,
  counters: { slowConsumersClosed: number },
): SlowConsumerSweep {
  let sweeper: ReturnType<typeof setInterval> | undefined;
  function sweep() {
    for (const room of sockets.rooms.values()) {
      for (const ws of room) {
        if (ws.getBufferedAmount() > WS_LIMITS.sendBufferBytes) {
          counters.slowConsumersClosed++;
          ws.close(CLOSE.TRY_AGAIN_LATER, "too slow to keep up; reconnect with since");
        }
      }
    }
  }
  return {
    watch() {
      sweeper ??= setInterval(sweep, WS_LIMITS.sweepMs);
      sweeper.unref?.();
    },
    settle() {
      if (sockets.rooms.size === 0 && sweeper) {
        clearInterval(sweeper);
        sweeper = undefined;
      }
    },
  };
}
