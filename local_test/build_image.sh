#!/usr/bin/env bash
# Builds the product image from the repository's Dockerfile with podman (the engine local_test/engine.sh
# sets up), on the debootstrap base from local_test/base_image.sh, and prints its size.
#
#   local_test/build_image.sh                    -> open-linear-learner:latest
#   IMAGE=oll:dist INSTALL_EXTRAS=distributed local_test/build_image.sh    (torch variant)
#   BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm local_test/build_image.sh  (where a registry is reachable)
#
# --network host: pip in the build reaches the package index exactly as this host does. When /opt/wheels
# (this machine's local wheel directory, named by the host pip config's find-links) exists, it is mounted
# read-only into the build and used as PIP_FIND_LINKS, so the distributed variant takes the CPU torch wheel
# from disk instead of a multi-GB CUDA build. Prints the image name on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-open-linear-learner:latest}
INSTALL_EXTRAS=${INSTALL_EXTRAS:-}
log() { echo "build_image.sh: $*" >&2; }

if [ -z "${BASE_IMAGE:-}" ]; then
    BASE_IMAGE=$(local_test/base_image.sh)
fi

args=(--network host --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "INSTALL_EXTRAS=$INSTALL_EXTRAS")
WHEELS=${OLL_WHEELS_DIR:-/opt/wheels}
if [ -n "$INSTALL_EXTRAS" ] && [ -d "$WHEELS" ]; then
    args+=(--volume "$WHEELS:$WHEELS:ro" --build-arg "PIP_FIND_LINKS=$WHEELS")
fi

start=$(date +%s)
# The builder stage gets a tag of its own so that its layers (the dependency install above all) stay
# referenced, and the prune below can drop superseded images without losing the build cache.
case "${IMAGE##*/}" in
    *:*) CACHE_TAG="$IMAGE-builder" ;;   # open-linear-learner:latest -> open-linear-learner:latest-builder
    *) CACHE_TAG="$IMAGE:builder" ;;
esac
log "podman build ${args[*]} -t $IMAGE ."
podman build "${args[@]}" --target builder -t "$CACHE_TAG" . >&2
podman build "${args[@]}" -t "$IMAGE" . >&2
# Every rebuild leaves the previous image and stage untagged; without this the disk fills by ~0.6 GB a build.
podman image prune -f >/dev/null 2>&1 || true
size=$(podman image inspect "$IMAGE" --format '{{.Size}}')
log "built $IMAGE in $(( $(date +%s) - start )) s; image size $(( size / 1000000 )) MB ($size bytes)"
echo "$IMAGE"
