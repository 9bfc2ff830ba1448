#!/usr/bin/env bash
# CI for the images, beside the container tests (which build the CPU image themselves):
# lint both Dockerfiles and the shell scripts, then build the GPU recipe (Dockerfile.gpu) with
# CPU TensorFlow (EXTRAS=train,serve) on $BASE_IMAGE. The real GPU image (EXTRAS=gpu, the default)
# downloads about 3.5 GB of CUDA wheels and takes about 17 minutes on 2 cores, so CI checks the
# recipe only; its layers are the CPU image's, so this build is mostly cache hits.
#   BASE_IMAGE=local/debian:bookworm container/ci-images.sh
set -euo pipefail
cd "$(dirname "$0")/.."

hadolint=${HADOLINT:-.venv/bin/hadolint}
"$hadolint" Dockerfile Dockerfile.gpu
echo "hadolint: Dockerfile and Dockerfile.gpu clean"
if command -v shellcheck >/dev/null; then
  shellcheck scripts/*.sh container/*.sh container/local_test/*.sh build_and_push.sh
  echo "shellcheck: scripts clean"
else
  bash -n scripts/gpu-check.sh
  echo "shellcheck not installed: scripts/gpu-check.sh parsed with bash -n only"
fi

start=$SECONDS
docker build --quiet --network host ${BASE_IMAGE:+--build-arg "BASE_IMAGE=$BASE_IMAGE"} \
  --build-arg EXTRAS=train,serve -f Dockerfile.gpu -t byoc:gpu-recipe . >/dev/null
echo "Dockerfile.gpu (CPU TensorFlow${BASE_IMAGE:+ on $BASE_IMAGE}) built in $((SECONDS - start)) s"
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' byoc
