#!/usr/bin/env bash
# make e2e: bring the real BuildKit test bed up (both engines, v0.13 and v0.25, one registry), run the
# tests marked e2e against it (every test on each engine: tests/e2e/conftest.py), always bring it down
# again, and exit with pytest's code. Extra arguments go to pytest (e.g. `-k v0.25` for one engine).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
trap 'bash testbed/buildkit.sh down' EXIT
bash testbed/buildkit.sh up || exit 1
start=$(date +%s)
"$ROOT/.venv/bin/pytest" -m e2e tests/e2e "$@"
rc=$?
echo "e2e.sh: pytest took $(($(date +%s) - start)) s (exit $rc)" >&2
exit $rc
