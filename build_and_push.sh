#!/usr/bin/env bash
# Build the byoc image and push it to Amazon ECR: account (STS) -> repository -> login -> build ->
# tag -> push. Prints the image URI on its last line. `byoc push` does the same in Python.
#
# Usage: ./build_and_push.sh [--variant cpu|gpu|serving] [--context DIR] [--platform P] [IMAGE] [TAG]
#   IMAGE       ECR repository, created if missing (default: byoc)
#   TAG         image tag (default: latest, or latest-gpu / latest-serving for those variants)
#   --variant   serving: the serving-only image (LiteRT, no TensorFlow; bundles with model.tflite)
#   --platform  linux/amd64 (default: SageMaker's x86 instances, whatever this machine is) or
#               linux/arm64 (Graviton endpoints only)
# Environment:
#   AWS_REGION / AWS_DEFAULT_REGION  region (default: the aws CLI's configured region, us-east-1)
#   AWS_ENDPOINT_URL                 send the aws CLI calls there (e.g. a moto server)
#   BYOC_REGISTRY                    push to this HOST:PORT instead of the ECR registry, with
#                                    your own login for it (docker login HOST); ECR's password
#                                    goes to ECR only
#   BASE_IMAGE                       passed to docker build as --build-arg BASE_IMAGE
set -euo pipefail

variant=cpu
platform=linux/amd64
context=$(cd "$(dirname "$0")" && pwd)
positional=()
while [ $# -gt 0 ]; do
    case "$1" in
        --variant) variant=${2:?--variant needs cpu, gpu or serving}; shift 2 ;;
        --context) context=${2:?--context needs a directory}; shift 2 ;;
        --platform) platform=${2:?--platform needs linux/amd64 or linux/arm64}; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) positional+=("$1"); shift ;;
    esac
done
# Keep in step with byoc.driver.ecr.DOCKERFILES and DEFAULT_TAGS (tests/aws/test_push.py checks).
case "$variant" in
    cpu) dockerfile=Dockerfile; default_tag=latest ;;
    gpu) dockerfile=Dockerfile.gpu; default_tag=latest-gpu ;;
    serving) dockerfile=Dockerfile; default_tag=latest-serving ;;
    *) echo "error: --variant must be cpu, gpu or serving, not '$variant'" >&2; exit 2 ;;
esac
extras=
[ "$variant" = serving ] && extras=serve  # byoc.driver.ecr.EXTRAS
case "$platform" in
    linux/amd64|linux/arm64) ;;
    *) echo "error: --platform must be linux/amd64 or linux/arm64, not '$platform'" >&2; exit 2 ;;
esac
image=${positional[0]:-byoc}
tag=${positional[1]:-$default_tag}

if ! command -v aws >/dev/null; then
    echo "error: the aws CLI is not installed: pip install awscli, or use 'byoc push'" >&2
    exit 2
fi
aws_cli() {
    if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
        aws --endpoint-url "$AWS_ENDPOINT_URL" --region "$region" "$@"
    else
        aws --region "$region" "$@"
    fi
}

region=${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region 2>/dev/null || true)}}
region=${region:-us-east-1}
if ! account=$(aws_cli sts get-caller-identity --query Account --output text); then
    echo "error: no usable AWS credentials: run 'aws configure' or set AWS_PROFILE" >&2
    exit 2
fi
ecr_registry="${account}.dkr.ecr.${region}.amazonaws.com"
registry=${BYOC_REGISTRY:-$ecr_registry}
fullname="${registry}/${image}:${tag}"

# Create the repository if it does not exist yet.
if ! aws_cli ecr describe-repositories --repository-names "$image" >/dev/null 2>&1; then
    aws_cli ecr create-repository --repository-name "$image" >/dev/null
fi

# The ECR password is for the ECR registry alone: it must never reach (or be stored for) another
# host. Another registry gets whatever login docker already has for it.
if [ "$registry" = "$ecr_registry" ]; then
    aws_cli ecr get-login-password | docker login --username AWS --password-stdin "$registry"
fi

docker build --network host --platform "$platform" \
    ${BASE_IMAGE:+--build-arg "BASE_IMAGE=$BASE_IMAGE"} ${extras:+--build-arg "EXTRAS=$extras"} \
    -f "$context/$dockerfile" -t "${image}:${tag}" "$context"
built=$(docker image inspect --format '{{.Os}}/{{.Architecture}}' "${image}:${tag}")
if [ "$built" != "$platform" ]; then
    echo "error: docker built a $built image, not $platform: SageMaker could not start it." \
        "Build on a $platform machine or enable emulation (docker buildx, binfmt/QEMU)." >&2
    exit 2
fi
docker tag "${image}:${tag}" "$fullname"
if ! docker push "$fullname"; then
    if [ "$registry" != "$ecr_registry" ]; then
        echo "error: the push to $registry failed; if it needs a login, run" \
            "'docker login $registry' first (ECR's password goes to ECR only)" >&2
    fi
    exit 1
fi
echo "$fullname"
