#!/usr/bin/env bash
# The container tests end to end, as CI runs them (called by run_tests.sh):
#   engine up (local_test/engine.sh) -> base image (local_test/base_image.sh, cached under
#   /var/cache/open-linear-learner) -> image build (local_test/build_image.sh) ->
#   OLL_CONTAINER_TESTS=1 pytest tests/container -> engine stopped again if this script started it.
# Prints the image size, the cold-start time and the other measurements the tests record.
#
# Python: the active virtualenv (run_tests.sh activates .venv), else .venv/bin/python, else python3; it
# needs the package's test extra (pytest, sagemaker, scikit-learn, requests). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
stamp() { echo "==> [$(( $(date +%s) - t0 )) s] $*"; }

if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    PY=$VIRTUAL_ENV/bin/python
elif [ -x .venv/bin/python ]; then
    PY=.venv/bin/python
else
    PY=${PYTHON:-python3}
fi
"$PY" -c "import pytest, sagemaker, sklearn, requests" 2>/dev/null || {
    echo "container_tests.sh: $PY lacks pytest/sagemaker/scikit-learn/requests (pip install -e '.[test]')" >&2
    exit 1
}

started_engine=0
if ! local_test/engine.sh status >/dev/null 2>&1; then
    started_engine=1
fi
stamp "container engine"
eval "$(local_test/engine.sh start)"
export DOCKER_HOST
cleanup() {
    # Containers an interrupted run may leave (the names tests/container gives them).
    for prefix in oll-run- oll-serve- oll-train-stop-; do
        docker ps -aq --filter "name=$prefix" | xargs -r docker rm -f >/dev/null 2>&1 || true
    done
    if [ $started_engine = 1 ]; then
        local_test/engine.sh stop || true
    fi
}
trap cleanup EXIT

stamp "base image"
BASE_IMAGE=$(local_test/base_image.sh)
export BASE_IMAGE

stamp "image build"
IMAGE=${IMAGE:-open-linear-learner:latest}
export IMAGE OLL_IMAGE=$IMAGE
local_test/build_image.sh >/dev/null

stamp "pytest tests/container"
report=$(mktemp /tmp/oll-container-report.XXXXXX)
rc=0
OLL_CONTAINER_TESTS=1 OLL_CONTAINER_REPORT=$report SAGEMAKER_SUPPRESS_V2_WARNING=1 \
    "$PY" -m pytest -q -p no:cacheprovider tests/container "$@" || rc=$?

echo "==> container measurements"
cat "$report" 2>/dev/null || true
rm -f "$report"
stamp "container tests finished (pytest exit $rc)"
exit $rc
