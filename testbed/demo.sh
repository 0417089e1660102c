#!/usr/bin/env bash
# make demo: the main jobs on the bundled fixtures, offline (no registry, no network after install).
set -euo pipefail
cd "$(dirname "$0")/.."
ci=.venv/bin/cacheinspect
run() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

run $ci inspect fixtures/threestage-max --image fixtures/threestage-inline --no-layers
run $ci diff fixtures/threestage-min fixtures/threestage-max
run $ci diff fixtures/crosshost-a fixtures/crosshost-b-mode
run $ci diff fixtures/crosshost-a-busybox fixtures/crosshost-b-buildarg
run $ci audit fixtures/threestage-max fixtures/variant-zstd --expect-mode max --max-age 5200w
echo
echo "demo: ok"
