// Where the browser tests find Chromium: $CHROMIUM_PATH, then Debian's /usr/bin/chromium, then PATH. playwright-core
// downloads no browser, so a machine without one skips the browser tests (with one line saying how to get one);
// CI (CI=true) must have one, and fails instead. .ci/run installs it in the same order.
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";

export const DEBIAN_CHROMIUM = "/usr/bin/chromium";
/** How the browser tests and the screenshots launch it: headless in a container, nothing fetched in the background. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
/** Looked for on PATH, in this order. */
export const CHROMIUM_NAMES = ["chromium", "chromium-browser", "google-chrome"] as const;
export const INSTALL_HINT =
  "install it with `apt-get install chromium` (Debian/Ubuntu) or set CHROMIUM_PATH to a Chromium or Chrome executable";

export type ChromiumLookup =
  | { found: true; path: string }
  /** `required`: missing where it must not be (CI, or a CHROMIUM_PATH that points at nothing runnable). */
  | { found: false; required: boolean; reason: string };

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function findChromium(
  env: Record<string, string | undefined> = process.env,
  isExecutable: (path: string) => boolean = isExecutableFile,
): ChromiumLookup {
  const chosen = env.CHROMIUM_PATH?.trim();
  if (chosen) {
    if (isExecutable(chosen)) return { found: true, path: chosen };
    // A browser asked for by name and not there is a mistake to fix, not a reason to skip.
    return { found: false, required: true, reason: `CHROMIUM_PATH=${chosen} is not an executable file` };
  }
  if (isExecutable(DEBIAN_CHROMIUM)) return { found: true, path: DEBIAN_CHROMIUM };
  const dirs = (env.PATH ?? "").split(delimiter).filter(Boolean);
  for (const name of CHROMIUM_NAMES) {
    for (const dir of dirs) {
      const path = join(dir, name);
      if (isExecutable(path)) return { found: true, path };
    }
  }
  const ci = ["1", "true", "yes"].includes((env.CI ?? "").trim().toLowerCase());
  return {
    found: false,
    required: ci,
    reason: `no Chromium at CHROMIUM_PATH, ${DEBIAN_CHROMIUM} or on PATH (${CHROMIUM_NAMES.join(", ")}): ${INSTALL_HINT}`,
  };
}
