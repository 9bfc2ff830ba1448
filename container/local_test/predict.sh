#!/usr/bin/env bash
# Send one request to the server that serve_local.sh started:
#   ./predict.sh FILE [CONTENT_TYPE]     e.g. ./predict.sh sign.png   or   ./predict.sh x.json application/json
# The content type defaults from the file's extension; PORT=... if serve_local.sh used another.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 FILE [CONTENT_TYPE]" >&2
  exit 2
fi
file=$1
[ -f "$file" ] || { echo "error: $file is not a file" >&2; exit 2; }
case ${2:-} in
  ?*) type=$2 ;;
  *) case ${file,,} in
       *.png) type=image/png ;;
       *.jpg|*.jpeg) type=image/jpeg ;;
       *.json) type=application/json ;;
       *.npy) type=application/x-npy ;;
       *.csv) type=text/csv ;;
       *) type=application/octet-stream ;;
     esac ;;
esac

curl --fail-with-body -sS -X POST "http://127.0.0.1:${PORT:-8080}/invocations" \
  -H "Content-Type: $type" -H "Accept: application/json" --data-binary @"$file"
echo
