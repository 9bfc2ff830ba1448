#!/usr/bin/env bash
# Train in the image exactly as SageMaker would, with plain docker (no byoc needed on the host):
#   ./train_local.sh IMAGE DATA_DIR [name=value ...]      e.g. ./train_local.sh byoc:cpu signs epochs=2
# DATA_DIR holds class folders, or train/ (validation/, test/) subfolders, one per channel.
# test_dir/ (TEST_DIR=... to put it elsewhere) becomes /opt/ml: the config JSONs, a copy of the
# data, and after training model/ and output/data/.
# One host only (resourceconfig.json names algo-1 alone). For a job on several hosts, use
# `byoc local train --image IMAGE --instance-count N`: it gives each container its own /opt/ml
# and a shared Docker network, as SageMaker does.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 IMAGE DATA_DIR [name=value ...]" >&2
  exit 2
fi
image=$1 data=$2
shift 2
[ -d "$data" ] || { echo "error: $data is not a directory" >&2; exit 2; }

# SageMaker writes every hyperparameter value as a JSON string.
hps='{' sep=''
for kv in "$@"; do
  case $kv in
    *'"'*|*\\*) echo "error: hyperparameter '$kv' contains a quote or backslash" >&2; exit 2 ;;
    ?*=*) ;;
    *) echo "error: hyperparameter '$kv' is not name=value" >&2; exit 2 ;;
  esac
  hps+="$sep\"${kv%%=*}\": \"${kv#*=}\"" sep=', '
done
hps+='}'

here=$(cd "$(dirname "$0")" && pwd)
test_dir=${TEST_DIR:-$here/test_dir}
# Start clean, but never delete a directory this script did not lay out.
if [ -e "$test_dir" ]; then
  [ -d "$test_dir/input/config" ] || { echo "error: $test_dir exists and is not a test_dir; choose another TEST_DIR" >&2; exit 2; }
  rm -rf "$test_dir"
fi
mkdir -p "$test_dir"/input/config "$test_dir"/input/data "$test_dir"/model \
         "$test_dir"/output/data "$test_dir"/checkpoints

# Channels: train/ validation/ test/ subfolders if present, else the whole folder is `train`.
channels=()
for name in train training validation test; do
  if [ -d "$data/$name" ]; then channels+=("$name"); fi
done
if [ ${#channels[@]} -eq 0 ]; then
  cp -r "$data" "$test_dir/input/data/train"
  channels=(train)
else
  for name in "${channels[@]}"; do cp -r "$data/$name" "$test_dir/input/data/$name"; done
fi

config=$test_dir/input/config
echo "$hps" > "$config/hyperparameters.json"
{
  printf '{'
  sep=''
  for name in "${channels[@]}"; do
    printf '%s"%s": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}' "$sep" "$name"
    sep=', '
  done
  printf '}\n'
} > "$config/inputdataconfig.json"
echo '{"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}' \
  > "$config/resourceconfig.json"

status=0
docker run --rm -v "$test_dir:/opt/ml" "$image" train || status=$?
# The container runs as root; hand its files back so test_dir can be removed without sudo.
if [ "$(id -u)" -ne 0 ]; then
  docker run --rm -v "$test_dir:/opt/ml" "$image" chown -R "$(id -u):$(id -g)" /opt/ml
fi

if [ "$status" -ne 0 ]; then
  echo "training failed (exit $status): $(cat "$test_dir/output/failure" 2>/dev/null || echo 'no failure file')" >&2
  exit "$status"
fi
echo "model in $test_dir/model, evaluation in $test_dir/output/data"
