#!/usr/bin/env bash
# One stage of the test suite: scripts/pytest-stage.sh NAME PYTEST_COMMAND...
# Prints the stage's wall time, and treats pytest's exit 5 (no test selected, as when
# PYTEST_ARGS names tests of the other tier) as success.
set -uo pipefail
name=$1
shift
start=$SECONDS
"$@"
code=$?
echo "== ${name}: $((SECONDS - start)) s (exit ${code})"
if [ "$code" -eq 5 ]; then
  exit 0
fi
exit "$code"
