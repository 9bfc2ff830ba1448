#!/usr/bin/env bash
# Train in the image exactly as SageMaker would, with plain docker (no byoc needed on the host):
#   ./train_local.sh IMAGE DATA_DIR [name=value ...]
# DATA_DIR holds class folders, or train/ (validation/, test/) subfolders, one per channel.
# Hyperparameters become test_dir/input/config/hyperparameters.json; results land in test_dir/.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 IMAGE DATA_DIR [name=value ...]   e.g. $0 byoc:cpu ./signs epochs=2" >&2
  exit 2
fi
image=$1 data=$2
shift 2
[ -d "$data" ] || { echo "error: $data is not a directory" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
test_dir="$here/test_dir"
rm -rf "$test_dir"
mkdir -p "$test_dir"/input/config "$test_dir"/input/data "$test_dir"/model \
         "$test_dir"/output/data "$test_dir"/checkpoints

# Channels: train/ validation/ test/ subfolders if present, else the whole folder is `train`.
channels=()
for name in train training validation test; do
  [ -d "$data/$name" ] && channels+=("$name")
done
if [ ${#channels[@]} -eq 0 ]; then
  cp -r "$data" "$test_dir/input/data/train"
  channels=(train)
else
  for name in "${channels[@]}"; do cp -r "$data/$name" "$test_dir/input/data/$name"; done
fi

# SageMaker writes every hyperparameter value as a JSON string.
{
  printf '{'
  sep=''
  for kv in "$@"; do
    case $kv in *=*) ;; *) echo "error: hyperparameter '$kv' is not name=value" >&2; exit 2 ;; esac
    printf '%s"%s": "%s"' "$sep" "${kv%%=*}" "${kv#*=}"
    sep=', '
  done
  printf '}\n'
} > "$test_dir/input/config/hyperparameters.json"

{
  printf '{'
  sep=''
  for name in "${channels[@]}"; do
    printf '%s"%s": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}' "$sep" "$name"
    sep=', '
  done
  printf '}\n'
} > "$test_dir/input/config/inputdataconfig.json"

cat > "$test_dir/input/config/resourceconfig.json" <<'JSON'
{"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}
JSON

status=0
docker run --rm -v "$test_dir:/opt/ml" "$image" train || status=$?
# The container runs as root; hand its files back so test_dir can be removed without sudo.
docker run --rm -v "$test_dir:/opt/ml" "$image" chown -R "$(id -u):$(id -g)" /opt/ml

if [ "$status" -ne 0 ]; then
  echo "training failed (exit $status): $(cat "$test_dir/output/failure" 2>/dev/null || echo 'no failure file')" >&2
  exit "$status"
fi
echo "model in $test_dir/model, metrics in $test_dir/output/data"
