#!/usr/bin/env bash
# Serve the model that train_local.sh wrote, with the real server (gunicorn + Flask), on
# http://localhost:${PORT:-8080}, the way SageMaker runs `serve` (local_test/docker_serve.sh: same
# through the image). Ctrl-C stops it (SIGTERM drains in-flight requests).
#
#   local_test/serve_local.sh [TEST_DIR]      default: local_test/test_dir
#   PORT=8080  WORKERS=1 (SAGEMAKER_MODEL_SERVER_WORKERS; the server's default is one per CPU)
# Then, in another shell: local_test/predict.sh local_test/payload.csv
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
test_dir="$(cd "${1:-$here/test_dir}" && pwd)"
if ! command -v linear-learner >/dev/null; then
    [ -x "$here/../.venv/bin/linear-learner" ] \
        || { echo "serve_local.sh: linear-learner not found; run local_test/demo.sh once or pip install -e ." >&2; exit 2; }
    export PATH="$here/../.venv/bin:$PATH"
fi
[ -f "$test_dir/model/model_algo-1" ] || { echo "serve_local.sh: no model in $test_dir/model (run local_test/train_local.sh first)" >&2; exit 2; }
export SAGEMAKER_BASE_DIR="$test_dir" SAGEMAKER_BIND_TO_PORT="${PORT:-8080}"
export SAGEMAKER_MODEL_SERVER_WORKERS="${WORKERS:-${SAGEMAKER_MODEL_SERVER_WORKERS:-1}}"
exec linear-learner serve
