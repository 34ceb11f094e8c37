#!/usr/bin/env bash
# `npm test`: everything a fresh machine needs, then every test.
#   1. npm packages (npm ci when node_modules is missing or stale)
#   2. the local control plane's binaries (built once from the Go module proxy, then cached)
#   3. typecheck and lint
#   4. mocha: unit, integration and e2e tests against a real local control plane that the
#      run starts and stops itself (test/setup.ts)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "npm packages"
stamp=node_modules/.centaurus-lock
if [[ ! -d node_modules || ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
else
  echo "up to date"
fi

step "Prometheus (Debian's package, for the scrape test)"
if ! command -v prometheus >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "prometheus is not installed and cannot be installed here (needs root and apt-get): sudo apt-get install prometheus" >&2
    exit 1
  fi
fi
prometheus --version 2>&1 | head -1

step "control-plane binaries"
bash hack/build-binaries.sh >/dev/null

step "generated manifests are up to date; chart lints"
npx tsx hack/gen-manifests.ts --check
"$(bash hack/build-binaries.sh)/helm" lint --quiet manifests/charts/centaurus

step "typecheck (tsc --strict) and lint (biome)"
npx tsc --noEmit
npx biome check .

step "tests"
export LOG_LEVEL="${LOG_LEVEL:-error}"
specs=(test/unit test/integration)
[[ -d test/e2e ]] && compgen -G "test/e2e/*.test.ts" >/dev/null && specs+=(test/e2e)
npx mocha --require test/setup.ts --reporter ./test/summary-reporter.cjs --recursive "${specs[@]/%//**/*.test.ts}" "$@"
