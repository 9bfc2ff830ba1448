#!/usr/bin/env bash
# The slow tier as two pytest sessions side by side: scripts/slow-tier.sh PYTHON [PYTEST_ARGS...]
#
# - "containers": what needs a Docker engine or the SDK (images, containers, Compose), and the
#   tabular searches and the hostile-HTTP and soak tests (`load`). The Docker tests share one engine
#   and the images they build, so they stay in one session, in order. The searches and the load
#   tests are here to even out the two sessions' times (without them, 540 s against 721 s).
# - "processes": the rest of the slow tier (training runs, serving, MLflow).
#
# A container test spends much of its time waiting on the engine and the network, and a search
# runs one thread, so two sessions finish well before one would on two cores. Each session
# has its own temporary directory; the containers' output goes to a file and is printed when both
# are done. Exit 5 (nothing selected, as when PYTEST_ARGS names tests of one side) is no failure.
set -uo pipefail
python=$1
shift
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
# The models both sessions use are trained once, by the first to need them (tests/support/runs.py).
export BYOC_TEST_SHARED="$base/shared"

session() {  # session NAME MARKERS PYTEST_ARGS...
  local name=$1 markers=$2 start=$SECONDS code
  shift 2
  "$python" -m pytest -m "$markers" --basetemp "$base/$name" --durations=25 "$@"
  code=$?
  echo "== slow tier, ${name}: $((SECONDS - start)) s (exit ${code})"
  [ "$code" -eq 5 ] && code=0
  return "$code"
}

start=$SECONDS
session containers "docker or sdk or load or (tabular and slow)" -p no:cacheprovider "$@" >"$base/containers.log" 2>&1 &
containers=$!
# Ctrl-C or a CI timeout stops both sessions, not only the one in the foreground.
trap 'pkill -TERM -P "$containers"; kill "$containers" 2>/dev/null; exit 130' INT TERM
session processes "slow and not docker and not sdk and not load and not tabular" "$@"
processes=$?
wait "$containers"
containers=$?
echo "== slow tier, containers (run beside the processes; its output):"
cat "$base/containers.log"
echo "== slow tier: $((SECONDS - start)) s (processes exit ${processes}, containers exit ${containers})"
[ "$processes" -eq 0 ] && [ "$containers" -eq 0 ]
