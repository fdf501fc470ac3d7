#!/usr/bin/env bash
# Train natively on an /opt/ml-shaped folder, the way SageMaker runs `train` in the container
# (bring-your-own style; local_test/docker_train.sh does the same through the image).
#
#   local_test/train_local.sh [TEST_DIR]      default: local_test/test_dir (iris, 3 classes, CSV)
#
# Results: TEST_DIR/model/model_algo-1, the evaluation report in TEST_DIR/output/data (metrics.json
# and PNG plots), TEST_DIR/output/failure with the reason when the job fails.
# Uses `linear-learner` from PATH, else the repo's .venv (local_test/demo.sh creates it).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
test_dir="$(cd "${1:-$here/test_dir}" && pwd)"
if ! command -v linear-learner >/dev/null; then
    [ -x "$here/../.venv/bin/linear-learner" ] \
        || { echo "train_local.sh: linear-learner not found; run local_test/demo.sh once or pip install -e ." >&2; exit 2; }
    export PATH="$here/../.venv/bin:$PATH"
fi
[ -d "$test_dir/input/config" ] || { echo "train_local.sh: $test_dir has no input/config (expected an /opt/ml tree)" >&2; exit 2; }
rc=0
SAGEMAKER_BASE_DIR="$test_dir" linear-learner train || rc=$?
if [ "$rc" -eq 0 ]; then
    echo "train_local.sh: model in $test_dir/model, report in $test_dir/output/data" >&2
else
    echo "train_local.sh: exit code $rc; $(head -c 300 "$test_dir/output/failure" 2>/dev/null)" >&2
fi
exit "$rc"
