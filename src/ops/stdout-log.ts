// The request log's way to stdout: lines are joined and written once per event-loop turn, not once per request,
// and a stdout whose reader went away (EPIPE) turns the log off instead of stopping the server.

export function createStdoutLog(write: (text: string) => unknown = (text) => process.stdout.write(text)) {
  let pending: string[] = [];
  let scheduled = false;
  let closed = false;

  function flush(): void {
    scheduled = false;
    if (pending.length === 0) return;
    const text = `${pending.join("\n")}\n`;
    pending = [];
    try {
      write(text);
    } catch {
      closed = true;
    }
  }

  process.stdout.on("error", () => {
    closed = true;
  });
  // process.exit() runs "exit" listeners synchronously: the last lines are written before the process ends.
  process.on("exit", flush);

  return {
    log(line: string): void {
      if (closed) return;
      pending.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
