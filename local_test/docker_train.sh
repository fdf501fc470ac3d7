#!/usr/bin/env bash
# Train in the container exactly as SageMaker does: `docker run IMAGE train` with the /opt/ml tree mounted
# (the bring-your-own `local_test/train_local.sh`, but through the image).
#
#   local_test/docker_train.sh [TEST_DIR] [extra docker run args...]
#     TEST_DIR  an /opt/ml-shaped tree (input/config/*.json, input/data/<channel>/...); default local_test/test_dir
#   IMAGE=open-linear-learner:latest  DOCKER_HOST defaults to the podman socket of local_test/engine.sh
#
# The model lands in TEST_DIR/model/model_algo-1, metrics in TEST_DIR/output/data, a failure reason in
# TEST_DIR/output/failure. Ctrl-C (or `docker stop`) sends SIGTERM to the training process.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export DOCKER_HOST=${DOCKER_HOST:-unix:///run/podman/podman.sock}
IMAGE=${IMAGE:-open-linear-learner:latest}
TEST_DIR=$(cd "${1:-$here/test_dir}" && pwd)
shift || true
if [ ! -d "$TEST_DIR/input/config" ]; then
    echo "docker_train.sh: $TEST_DIR has no input/config (expected an /opt/ml tree)" >&2
    exit 2
fi
mkdir -p "$TEST_DIR/model" "$TEST_DIR/output"
name=${NAME:-oll-train-$$}
# No --rm: through podman's Docker API (4.3) `docker run --rm` reports exit code 0 whatever the container
# returned, so run, keep the real exit code, then remove the container.
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
rc=0
docker run --name "$name" -v "$TEST_DIR:/opt/ml" "$@" "$IMAGE" train || rc=$?
echo "docker_train.sh: exit code $rc$( [ -f "$TEST_DIR/output/failure" ] && echo "; $(head -c 300 "$TEST_DIR/output/failure")")" >&2
exit $rc
