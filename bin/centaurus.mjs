#!/usr/bin/env node
// The `centaurus` executable. It runs the compiled JavaScript in dist/ when dist/ is at least
// as new as every TypeScript source (`npm run build`; npm start and npm test build it), so a
// command starts like kubectl does; otherwise (a checkout being edited, nothing built) it runs
// the sources through tsx, which compiles them first and takes seconds.

import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const SOURCES = ["bin", "cli", "controllers", "pkg", "test/fixtures"];

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function distIsFresh() {
  try {
    const built = statSync(join(root, "dist", ".built")).mtimeMs;
    return SOURCES.every((d) => newestSource(join(root, d)) <= built);
  } catch {
    return false;
  }
}

if (distIsFresh()) {
  await import("../dist/bin/centaurus.js");
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("./centaurus.ts");
}
