#!/usr/bin/env bash
# The shell steps of action.yml (the composite GitHub Action): `run.sh STEP`, inputs from INPUT_* env vars.
#
# Each step does nothing when its input is empty, so one `uses:` line can run any mix of them. Results
# go where a workflow looks: annotations on stdout (::error file=...), a markdown summary appended to
# $GITHUB_STEP_SUMMARY, step outputs in $GITHUB_OUTPUT, and the exit code of cacheinspect itself
# (0 ok, 1 findings, 2 usage, 3 credentials, 4 not found, 5 network, 6 integrity). tests/cli/test_action.py
# runs these steps the way a runner does.
set -uo pipefail

step="${1:?usage: run.sh install|fingerprint|audit|lint|context-check}"
ci() { cacheinspect "$@"; }
summary() { if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat >>"$GITHUB_STEP_SUMMARY"; else cat >/dev/null; fi; }
output() { if [ -n "${GITHUB_OUTPUT:-}" ]; then printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"; fi; }
words() { read -r -a "$1" <<<"${2:-}"; }  # split an input on blanks (no globbing, no quotes)

words extra "${INPUT_ARGS:-}"
case "$step" in
  install)
    if [ "${INPUT_INSTALL:-true}" = "true" ]; then
      "${INPUT_PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check "${GITHUB_ACTION_PATH:?}"
    fi
    ci version
    ;;
  fingerprint)
    [ -n "${INPUT_FINGERPRINT_PUSH:-}" ] || exit 0
    args=(context fingerprint "${INPUT_CONTEXT:-.}" --push "$INPUT_FINGERPRINT_PUSH")
    [ -z "${INPUT_DOCKERFILE:-}" ] || args+=(-f "$INPUT_DOCKERFILE")
    ci "${args[@]}"
    ;;
  audit)
    [ -n "${INPUT_AUDIT:-}" ] || exit 0
    words refs "$INPUT_AUDIT"
    code=0
    ci audit "${refs[@]}" --format github "${extra[@]}" || code=$?  # also appends the summary itself
    output audit-exit-code "$code"
    exit "$code"
    ;;
  lint)
    [ -n "${INPUT_LINT:-}" ] || exit 0
    set +f
    # shellcheck disable=SC2206  # globs in the input are expanded here, like a shell would
    files=($INPUT_LINT)
    sarif="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/cacheinspect-lint.sarif"
    code=0
    ci lint "${files[@]}" --format sarif -o "$sarif" "${extra[@]}" || code=$?
    if [ "$code" -le 1 ]; then
      ci lint "${files[@]}" --format github --fail-on never "${extra[@]}"
      { echo "## cacheinspect lint"; echo; echo '```'; ci lint "${files[@]}" --fail-on never --color never "${extra[@]}"; echo '```'; } | summary
      output sarif "$sarif"
    fi
    output lint-exit-code "$code"
    exit "$code"
    ;;
  context-check)
    [ -n "${INPUT_CONTEXT_CHECK:-}" ] || exit 0
    args=(context check "$INPUT_CONTEXT_CHECK" "${INPUT_CONTEXT:-.}")
    [ -z "${INPUT_DOCKERFILE:-}" ] || args+=(-f "$INPUT_DOCKERFILE")
    [ "${INPUT_FAIL_ON_MISS:-false}" != "true" ] || args+=(--exit-code)
    code=0
    ci "${args[@]}" --format github "${extra[@]}" || code=$?
    if [ "$code" -le 1 ]; then
      ci "${args[@]}" --format markdown --quiet "${extra[@]}" | summary
    fi
    output context-check-exit-code "$code"
    exit "$code"
    ;;
  *) echo "run.sh: unknown step $step" >&2; exit 2 ;;
esac
