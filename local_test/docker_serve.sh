#!/usr/bin/env bash
# Serve from the container exactly as SageMaker does: `docker run -p 8080:8080 IMAGE serve` with the model
# directory mounted at /opt/ml/model (the bring-your-own `local_test/serve_local.sh`, through the image).
#
#   local_test/docker_serve.sh [TEST_DIR] [extra docker run args...]
#     TEST_DIR  a tree whose model/ holds model_algo-1 (e.g. after docker_train.sh); default local_test/test_dir
#   IMAGE=open-linear-learner:latest  PORT=8080 (host port)  NAME=oll-serve
#   DETACH=1  run in the background and return once /ping answers 200 (prints the cold-start time);
#             stop it with `docker stop -t 30 NAME && docker rm NAME` (SIGTERM; in-flight requests finish).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export DOCKER_HOST=${DOCKER_HOST:-unix:///run/podman/podman.sock}
IMAGE=${IMAGE:-open-linear-learner:latest}
PORT=${PORT:-8080}
NAME=${NAME:-oll-serve}
TEST_DIR=$(cd "${1:-$here/test_dir}" && pwd)
shift || true
if [ ! -d "$TEST_DIR/model" ]; then
    echo "docker_serve.sh: $TEST_DIR/model does not exist (train first: local_test/docker_train.sh)" >&2
    exit 2
fi
# Only the model is mounted, read-only, as on a SageMaker endpoint.
args=(--name "$NAME" -p "$PORT:8080" -v "$TEST_DIR/model:/opt/ml/model:ro" "$@" "$IMAGE" serve)
docker rm -f "$NAME" >/dev/null 2>&1 || true
if [ "${DETACH:-0}" != 1 ]; then
    # No --rm: through podman's Docker API `docker run --rm` loses the exit code (see docker_train.sh).
    trap 'docker rm -f "$NAME" >/dev/null 2>&1 || true' EXIT
    rc=0
    docker run "${args[@]}" || rc=$?
    exit $rc
fi
start=$(date +%s%N)
docker run -d "${args[@]}" >/dev/null
for _ in $(seq 1 1200); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT/ping")" = 200 ]; then
        echo "docker_serve.sh: $NAME answers /ping on port $PORT; cold start $(( ($(date +%s%N) - start) / 1000000 )) ms" >&2
        exit 0
    fi
    if [ "$(docker inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null)" != running ]; then
        echo "docker_serve.sh: $NAME exited before answering /ping; logs:" >&2
        docker logs --tail 30 "$NAME" >&2 || true
        exit 1
    fi
    sleep 0.1
done
echo "docker_serve.sh: no 200 on /ping within 2 minutes; logs:" >&2
docker logs --tail 30 "$NAME" >&2 || true
exit 1
