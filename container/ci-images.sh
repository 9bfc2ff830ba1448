#!/usr/bin/env bash
# CI for the images, beside the container tests (which build the CPU image themselves):
# lint both Dockerfiles, then build the CUDA recipe (Dockerfile.gpu) with CPU TensorFlow on
# $BASE_IMAGE, so that its stages stay valid where no CUDA base can be pulled and no GPU exists.
# Its layers are the CPU image's, so after (or before) the tests this build is mostly cache hits.
#   BASE_IMAGE=local/debian:bookworm container/ci-images.sh
set -euo pipefail
cd "$(dirname "$0")/.."

hadolint=${HADOLINT:-.venv/bin/hadolint}
"$hadolint" Dockerfile Dockerfile.gpu
echo "hadolint: Dockerfile and Dockerfile.gpu clean"

start=$SECONDS
docker build --quiet --network host ${BASE_IMAGE:+--build-arg "BASE_IMAGE=$BASE_IMAGE"} \
  --build-arg EXTRAS=train,serve -f Dockerfile.gpu -t byoc:gpu-recipe . >/dev/null
echo "Dockerfile.gpu (CPU TensorFlow${BASE_IMAGE:+ on $BASE_IMAGE}) built in $((SECONDS - start)) s"
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' byoc
