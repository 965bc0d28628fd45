// The browser tests' Chromium lookup, on a made-up filesystem: the order it looks in, and what a machine
// without Chromium gets (a skip with the install line) against what CI gets (a failure).
import { describe, expect, test } from "bun:test";
import { findChromium } from "./chromium.ts";

const on =
  (...paths: string[]) =>
  (path: string) =>
    paths.includes(path);

describe("findChromium", () => {
  test("CHROMIUM_PATH first, then /usr/bin/chromium, then PATH in name order", () => {
    const everywhere = on(
      "/opt/chrome/chrome",
      "/usr/bin/chromium",
      "/usr/local/bin/chromium",
      "/snap/bin/chromium-browser",
    );
    expect(findChromium({ CHROMIUM_PATH: "/opt/chrome/chrome", PATH: "/usr/local/bin" }, everywhere)).toEqual({
      found: true,
      path: "/opt/chrome/chrome",
    });
    expect(findChromium({ PATH: "/usr/local/bin" }, everywhere)).toEqual({ found: true, path: "/usr/bin/chromium" });
    const onPath = on("/snap/bin/chromium-browser", "/home/me/bin/google-chrome", "/usr/local/bin/chromium");
    expect(findChromium({ PATH: "/home/me/bin:/snap/bin:/usr/local/bin" }, onPath)).toEqual({
      found: true,
      path: "/usr/local/bin/chromium",
    });
    expect(findChromium({ PATH: "/home/me/bin:/snap/bin" }, onPath)).toEqual({
      found: true,
      path: "/snap/bin/chromium-browser",
    });
    expect(findChromium({ PATH: "/home/me/bin" }, onPath)).toEqual({ found: true, path: "/home/me/bin/google-chrome" });
  });

  test("none found: skipped with the install line, unless CI is set", () => {
    const nothing = on();
    const local = findChromium({ PATH: "/usr/bin:/bin" }, nothing);
    expect(local).toMatchObject({ found: false, required: false });
    expect(!local.found && local.reason).toContain("apt-get install chromium");
    expect(!local.found && local.reason).toContain("CHROMIUM_PATH");
    expect(findChromium({ PATH: "/usr/bin", CI: "true" }, nothing)).toMatchObject({ found: false, required: true });
    expect(findChromium({ PATH: "/usr/bin", CI: "" }, nothing)).toMatchObject({ found: false, required: false });
  });

  test("a CHROMIUM_PATH that is not there fails rather than falling back or skipping", () => {
    const lookup = findChromium({ CHROMIUM_PATH: "/nope/chrome", PATH: "/usr/bin" }, on("/usr/bin/chromium"));
    expect(lookup).toMatchObject({ found: false, required: true });
    expect(!lookup.found && lookup.reason).toContain("/nope/chrome");
  });

  test("the real filesystem: a directory or a plain file is not a browser", () => {
    expect(findChromium({ CHROMIUM_PATH: "/tmp", PATH: "" })).toMatchObject({ found: false });
    expect(findChromium({ CHROMIUM_PATH: import.meta.path, PATH: "" })).toMatchObject({ found: false });
  });
});
