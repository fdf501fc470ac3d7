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
exec docker run --rm --name "${NAME:-oll-train-$$}" -v "$TEST_DIR:/opt/ml" "$@" "$IMAGE" train
