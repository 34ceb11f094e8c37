#!/usr/bin/env -S npx tsx
// centaurus: the command line for the local control plane and the operator (cli/main.ts).
// bin/centaurus.mjs starts it from the compiled dist/ when that is up to date.

import { main } from "../cli/main.ts";

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
