#!/usr/bin/env bash
# Send one request to the server started by serve_local.sh (or docker_serve.sh) and print the answer.
#
#   local_test/predict.sh PAYLOAD_FILE [CONTENT_TYPE] [ACCEPT]
#     CONTENT_TYPE  default text/csv (also application/json, application/jsonlines,
#                   application/x-recordio-protobuf)
#     ACCEPT        default application/json (also application/jsonlines, text/csv,
#                   application/x-recordio-protobuf: binary, so save it with > out.rec)
#   PORT=8080
# Examples: local_test/predict.sh local_test/payload.csv
#           local_test/predict.sh local_test/payload.json application/json text/csv
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 3 ]; then
    echo "usage: $0 PAYLOAD_FILE [CONTENT_TYPE] [ACCEPT]" >&2
    exit 2
fi
payload=$1
content_type=${2:-text/csv}
accept=${3:-application/json}
[ -f "$payload" ] || { echo "predict.sh: no such file: $payload" >&2; exit 2; }
url="http://localhost:${PORT:-8080}/invocations"
# The body goes to stdout untouched (binary answers can be redirected); status and Content-Type to stderr.
curl -sS --data-binary "@$payload" -H "Content-Type: $content_type" -H "Accept: $accept" \
    -w '%{stderr}\nHTTP %{http_code}, Content-Type: %{content_type}\n' "$url"
