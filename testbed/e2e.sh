#!/usr/bin/env bash
# make e2e: bring the real BuildKit test bed up, run the tests marked e2e against it, always bring it
# down again, and exit with pytest's code. Extra arguments go to pytest.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
trap 'bash testbed/buildkit.sh down' EXIT
bash testbed/buildkit.sh up || exit 1
# shellcheck disable=SC1091
source build/testbed/env
"$ROOT/.venv/bin/pytest" -m e2e tests/e2e "$@"
exit $?
