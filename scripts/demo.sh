#!/usr/bin/env bash
# The whole local flow, no Docker and no AWS: synthesize signs, train, read the evaluation,
# serve the model, invoke it over HTTP, then an Autopilot-style tabular baseline.
# Usage: scripts/demo.sh [WORKDIR]   (make demo runs it with the project's virtualenv on PATH)
set -euo pipefail

work=${1:-demo}
port=${PORT:-8080}
mkdir -p "$work"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "1/5 Synthetic traffic signs: 43 GTSRB classes, GTSRB-like imbalance"
byoc data synth --out "$work/signs" --per-class 100 --seed 1 --difficulty easy --overwrite

step "2/5 Train LeNet with the real \`train\` entrypoint over a SageMaker-shaped /opt/ml"
byoc local train --data "$work/signs" --output "$work/run" \
  --hp epochs=40 --hp batch_size=32 --hp learning_rate=0.002 --hp early_stopping_patience=8

step "3/5 Serve it with the real \`serve\` entrypoint (gunicorn + Flask) on port $port"
byoc local serve --model "$work/run/model.tar.gz" --port "$port" --workers 2 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
python - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(240):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/ping", timeout=2)
        break
    except OSError:
        time.sleep(0.5)
PY

step "4/5 Invoke it over HTTP with three test images"
mapfile -t images < <(find "$work/signs/test" -type f | sort | awk 'NR % 97 == 1' | head -3)
byoc invoke --url "http://127.0.0.1:$port" --top-k 3 "${images[@]}"
kill $server; wait $server 2>/dev/null || true
trap - EXIT

step "5/5 Tabular baseline: the insurance-charges table, offline Autopilot-style"
byoc autopilot insurance --out "$work/insurance.csv" --rows 1000 --seed 0
byoc autopilot local --csv "$work/insurance.csv" --target charges --out "$work/autopilot" \
  --time-budget 30 --overwrite

printf '\nDone. Open %s first, then %s.\n' "$work/run/output/data/report.md" \
  "$work/autopilot"
