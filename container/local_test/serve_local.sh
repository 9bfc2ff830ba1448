#!/usr/bin/env bash
# Serve the model that train_local.sh left in test_dir/model, on http://127.0.0.1:8080:
#   ./serve_local.sh IMAGE            (then ./predict.sh FILE in another shell; Ctrl-C stops)
# TEST_DIR=... and PORT=... change where the model is read from and the port on this machine.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 IMAGE" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
model=${TEST_DIR:-$here/test_dir}/model
[ -d "$model" ] || { echo "error: no $model; run train_local.sh first" >&2; exit 2; }

# Run as SageMaker does: no init process, the server is PID 1 and handles the signals itself.
exec docker run --rm -p "127.0.0.1:${PORT:-8080}:8080" -v "$model:/opt/ml/model:ro" "$1" serve
