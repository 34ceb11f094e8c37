#!/usr/bin/env bash
# `npm test`: everything a fresh machine needs, then every test.
#   1. npm packages (npm ci when node_modules is missing or stale)
#   2. the local control plane's binaries and the node agent (built once from the Go module
#      proxy, then cached), and what real nodes need (hack/install-real-node.sh: packages,
#      kubelet, node images)
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

step "ping (Debian's iputils-ping, for the data-plane tests)"
if ! command -v ping >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iputils-ping >/dev/null; } ||
    echo "iputils-ping did not install: the data-plane tests will skip" >&2
fi
command -v ping >/dev/null 2>&1 && echo "ping present" || echo "no ping: the data-plane tests will skip"

step "QEMU and the test guest's parts (Debian's packages, for the VM launcher test)"
if ! command -v qemu-system-x86_64 >/dev/null 2>&1 || ! command -v cpio >/dev/null 2>&1 || ! command -v busybox >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 busybox-static cpio >/dev/null
  else
    echo "qemu-system-x86, busybox-static or cpio is missing and cannot be installed here: the VM launcher test will be skipped"
  fi
fi
command -v qemu-system-x86_64 >/dev/null 2>&1 && qemu-system-x86_64 --version | head -1

step "control-plane binaries"
bash hack/build-binaries.sh >/dev/null

step "node agent and CNI plugin (Go, cached by the content hash of agent/)"
bash hack/build-agent.sh >/dev/null

step "real nodes (Debian's containerd, runc and CNI plugins; kubelet; the node images)"
# Never fails the run: where real nodes cannot be had, it says why in one line and their
# tests are skipped.
bash hack/install-real-node.sh | tail -1

step "generated manifests are up to date; chart lints"
npx tsx hack/gen-manifests.ts --check
"$(bash hack/build-binaries.sh)/helm" lint --quiet manifests/charts/centaurus

step "typecheck (tsc --strict) and lint (biome)"
npx tsc --noEmit
npx biome check .

step "compiling the CLI and operator to dist/ (bin/centaurus.mjs starts from it)"
npm run build --silent

step "tests"
# Unit tests need no cluster. Integration and e2e tests run in groups — the runtime, then each
# pillar, then shipping — each group in its own mocha process against its own fresh local
# control plane (test/setup.ts), so that no group sees another's CRDs, admission policies or
# leftovers. The counts are added up at the end.
export LOG_LEVEL="${LOG_LEVEL:-error}"
export CENTAURUS_TEST_STATS
CENTAURUS_TEST_STATS="$(mktemp)"
trap 'rm -f "$CENTAURUS_TEST_STATS"' EXIT

declare -A groups=()
order=()
add() { # group file
  [[ -n "${groups[$1]+x}" ]] || order+=("$1")
  groups[$1]+="$2 "
}
for f in test/integration/*.test.ts test/e2e/*.test.ts; do
  [[ -e "$f" ]] || continue
  base="$(basename "$f" .test.ts)"
  case "$base" in
    *-*) pillar="${base%%-*}" ;;
    readme | ship) pillar="shipping" ;;
    *) pillar="runtime" ;;
  esac
  [[ "$pillar" == compute ]] && pillar=tenancy # Arktos: tenants and VMs together
  add "$pillar" "$f"
done

status=0
run_group() { # name [--require test/setup.ts] files...
  local name="$1"
  shift
  printf '\n--- %s ---\n' "$name"
  CENTAURUS_TEST_GROUP="$name" npx mocha --reporter ./test/summary-reporter.cjs "$@" || status=1
}
run_group unit 'test/unit/**/*.test.ts'
for g in runtime tenancy network edge ai shipping "${order[@]}"; do
  [[ -n "${groups[$g]+x}" ]] || continue
  # shellcheck disable=SC2086
  run_group "$g" --require test/setup.ts ${groups[$g]}
  unset "groups[$g]"
done

node -e '
  const lines = require("node:fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
  const sum = (k) => lines.reduce((n, l) => n + l[k], 0);
  console.log("\n=== summary by group ===");
  for (const l of lines) console.log(`  ${l.group.padEnd(10)} ${l.passes} passed, ${l.failures} failed, ${l.pending} skipped`);
  console.log(`\n${sum("passes")} passed, ${sum("failures")} failed, ${sum("pending")} skipped`);
' "$CENTAURUS_TEST_STATS"
exit $status
