#!/usr/bin/env bash
# Check the GPU image on a machine with an NVIDIA GPU, its driver, Docker and the NVIDIA Container
# Toolkit: list the devices, train 2 epochs on synthetic signs with mixed precision, serve the
# model on TensorFlow (the GPU) and time single-image requests.
# Usage: scripts/gpu-check.sh [IMAGE] [WORKDIR]   (default byoc:gpu, a new temporary directory)
# Build the image first: make image-gpu. Needs docker, curl and GNU date; no byoc on the host.
# GPU_ARGS= (empty) runs the same steps without a GPU, to check the script itself on any machine.
set -euo pipefail

image=${1:-byoc:gpu}
work=${2:-$(mktemp -d -t byoc-gpu-check.XXXXXX)}
work=$(cd "$work" && pwd)
port=${PORT:-8080}
requests=${REQUESTS:-200}
per_class=${PER_CLASS:-200}
name=byoc-gpu-check-$$
read -r -a gpu_args <<< "${GPU_ARGS---gpus all}"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
cleanup() { docker rm -f "$name-train" "$name-serve" >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "1/4 Devices: driver and GPUs as byoc sees them, and as TensorFlow sees them"
docker run --rm "${gpu_args[@]}" -e "NEED_GPU=${#gpu_args[@]}" "$image" python -c '
import os, sys
import tensorflow as tf
from byoc import gpu
print("host:      ", gpu.probe().describe())
print("TensorFlow:", tf.__version__, "built with CUDA:", tf.test.is_built_with_cuda())
for d in tf.config.list_physical_devices():
    print("  ", d.device_type, d.name)
if os.environ["NEED_GPU"] != "0" and not tf.config.list_physical_devices("GPU"):
    sys.exit("TensorFlow sees no GPU: see the lines above")'

step "2/4 Synthetic signs (43 classes, $per_class per class) in $work/ml/input/data"
mkdir -p "$work/ml/input/config"
docker run --rm --user "$(id -u):$(id -g)" -v "$work:/work" "$image" \
  byoc data synth --out /work/ml/input/data --per-class "$per_class" --seed 1 --overwrite
echo '{"epochs": "2", "mixed_precision": "true", "batch_size": "128"}' \
  > "$work/ml/input/config/hyperparameters.json"
train_images=$(find "$work/ml/input/data/train" -type f ! -name '*.csv' | wc -l)

step "3/4 train: 2 epochs, mixed_precision=true, on all GPUs (${gpu_args[*]:-no GPU})"
docker run --name "$name-train" "${gpu_args[@]}" -v "$work/ml:/opt/ml" "$image" train
# The second epoch's wall time, from the container log's timestamps: the first one includes
# tracing and XLA compilation.
stamp() { docker logs -t "$name-train" 2>&1 | grep -m1 "#metrics epoch=$1 " | cut -d' ' -f1; }
t1=$(date -d "$(stamp 1)" +%s.%N)
t2=$(date -d "$(stamp 2)" +%s.%N)
awk -v n="$train_images" -v a="$t1" -v b="$t2" \
  'BEGIN { printf "training: %d images, epoch 2 in %.2f s: %.0f img/s (validation included)\n",
           n, b - a, n / (b - a) }'

step "4/4 serve on TensorFlow (the GPU), $requests single-PNG requests"
docker run -d --name "$name-serve" "${gpu_args[@]}" -p "127.0.0.1:$port:8080" \
  -e BYOC_SERVING_RUNTIME=tensorflow -e SAGEMAKER_MODEL_SERVER_WORKERS=1 \
  -v "$work/ml/model:/opt/ml/model:ro" "$image" serve >/dev/null
for _ in $(seq 240); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/ping" 2>/dev/null && break
  sleep 0.5
done
png=$(find "$work/ml/input/data/test" -type f -name '*.png' | sort | head -n 1)
curl -fsS -H 'Content-Type: image/png' --data-binary "@$png" \
  "http://127.0.0.1:$port/invocations"
echo
for _ in $(seq "$requests"); do
  curl -fsS -o /dev/null -w '%{time_total}\n' -H 'Content-Type: image/png' \
    --data-binary "@$png" "http://127.0.0.1:$port/invocations"
done | sort -n | awk '{ t[NR] = $1; s += $1 }
  END { printf "serving: %d requests, p50 %.1f ms, p90 %.1f ms, %.0f img/s one at a time\n",
        NR, 1000 * t[int(NR / 2) + 1], 1000 * t[int(NR * 0.9)], NR / s }'
docker logs "$name-serve" 2>&1 | grep -E "GPU:|ready on" || true
echo "Logs: docker logs $name-train / $name-serve (removed on exit); files in $work"
