#!/usr/bin/env bash
# Builds the base image the Dockerfile's BASE_IMAGE points at on machines that reach no image registry:
# a `debootstrap --variant=minbase` Debian bookworm root with python3, python3-venv and ca-certificates,
# plus this host's CA bundle (so pip inside a build trusts the package index exactly as the host does),
# imported with `podman import` under a stable tag.
#
#   local_test/base_image.sh            reuse the image if present, else import the cached rootfs, else debootstrap
#   local_test/base_image.sh --rebuild  debootstrap again and refresh the cache
#
# Cache: $OLL_CACHE_DIR (default /var/cache/open-linear-learner)/oll-base-bookworm.tar.gz, kept between runs
# where the machine is kept. Prints the image tag on stdout. Needs root and podman (local_test/engine.sh).
set -euo pipefail

TAG=${OLL_BASE_IMAGE:-localhost/oll-base:bookworm}
CACHE_DIR=${OLL_CACHE_DIR:-/var/cache/open-linear-learner}
CACHE=$CACHE_DIR/oll-base-bookworm.tar.gz
MIRROR=${OLL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
HOST_CA=/etc/ssl/certs/ca-certificates.crt

log() { echo "base_image.sh: $*" >&2; }

rebuild=0
[ "${1:-}" = "--rebuild" ] && rebuild=1

command -v podman >/dev/null || { log "podman is missing: run local_test/engine.sh first"; exit 1; }

if [ $rebuild = 0 ] && podman image exists "$TAG"; then
    log "reusing $TAG"
    echo "$TAG"
    exit 0
fi

import_cache() {
    # Same metadata a registry image would carry; the Dockerfile sets everything else.
    podman import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --message "debootstrap minbase bookworm + python3 python3-venv ca-certificates" \
        "$CACHE" "$TAG" >/dev/null
    log "imported $TAG from $CACHE"
}

if [ $rebuild = 0 ] && [ -s "$CACHE" ] && gzip -t "$CACHE" 2>/dev/null; then
    import_cache
    echo "$TAG"
    exit 0
fi

if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends debootstrap >&2
fi

mkdir -p "$CACHE_DIR"
work=$(mktemp -d /var/tmp/oll-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
log "debootstrap bookworm into $root (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
    tail -30 "$work/debootstrap.log" >&2
    exit 1
}
# The host's CA bundle: if the index is reached through a re-signing proxy, its CA is in here.
if [ -f "$HOST_CA" ]; then
    cp "$HOST_CA" "$root/etc/ssl/certs/ca-certificates.crt"
fi
# Trim what a base image does not need: apt caches and lists, docs, man pages, locales.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/tmp/*
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} + 2>/dev/null || true
# The build network is the host's (--network host); resolv.conf comes from the engine at run time.
: >"$root/etc/resolv.conf"
tar --numeric-owner -C "$root" -czf "$CACHE.tmp" .
mv "$CACHE.tmp" "$CACHE"
log "cached rootfs at $CACHE ($(du -h "$CACHE" | cut -f1))"
import_cache
echo "$TAG"
