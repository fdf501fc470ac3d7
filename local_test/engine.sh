#!/usr/bin/env bash
# A real container engine for machines that have no Docker daemon: podman (runc runtime, cgroupfs)
# serving the Docker API on a unix socket, so the ordinary `docker` CLI, Debian's docker-compose (v1)
# and the SageMaker SDK's local mode all work against it.
#
#   local_test/engine.sh [start]   install + configure (idempotent), start the API service if not running
#   local_test/engine.sh stop      stop the API service this script started
#   local_test/engine.sh status    exit 0 if the API answers
#   eval "$(local_test/engine.sh)" also exports DOCKER_HOST into the calling shell
#
# Everything human-readable goes to stderr; stdout carries only the `export DOCKER_HOST=...` line.
# Needs root (apt-get, /etc/containers, /run/podman). Safe to run repeatedly, and from CI on a fresh machine.
set -euo pipefail

SOCK_DIR=/run/podman
SOCK=${OLL_PODMAN_SOCKET:-$SOCK_DIR/podman.sock}
PIDFILE=$SOCK_DIR/oll-podman-service.pid
LOG=${OLL_PODMAN_LOG:-/var/log/oll-podman-service.log}
DOCKER_HOST_VALUE="unix://$SOCK"
CONF=/etc/containers/containers.conf

log() { echo "engine.sh: $*" >&2; }

need_root() {
    if [ "$(id -u)" != 0 ]; then
        log "must run as root (installs Debian packages and runs a rootful podman service)"
        exit 1
    fi
}

install_packages() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v runc >/dev/null || missing+=(runc)
    command -v docker-compose >/dev/null || missing+=(docker-compose)
    # netavark does the networking (named networks for compose, -p port forwarding through iptables);
    # aardvark-dns resolves container names (algo-1-xxxxx) inside compose networks.
    dpkg -s netavark >/dev/null 2>&1 || missing+=(netavark)
    dpkg -s aardvark-dns >/dev/null 2>&1 || missing+=(aardvark-dns)
    command -v iptables >/dev/null || missing+=(iptables)
    # The Docker CLI (client only). Debian ships it only inside docker.io; its daemon is never started here.
    command -v docker >/dev/null || missing+=(docker.io)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        # No recommends: podman's would pull buildah, fuse-overlayfs, slirp4netns (rootless only), and
        # docker-compose's would pull docker.io with a second engine.
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

configure() {
    # crun fails on these machines' cgroup v1 layout; systemd is not PID 1, so cgroupfs; the sandbox
    # refuses setrlimit, so no default ulimits.
    local want
    want='# Written by open-linear-learner local_test/engine.sh
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"'
    mkdir -p /etc/containers
    if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$want" ]; then
        if [ -f "$CONF" ] && ! grep -q 'open-linear-learner' "$CONF"; then
            cp "$CONF" "$CONF.orig.$(date +%s)"
            log "saved the previous $CONF"
        fi
        printf '%s\n' "$want" >"$CONF"
        log "wrote $CONF"
    fi
}

api_up() {
    [ -S "$SOCK" ] && DOCKER_HOST=$DOCKER_HOST_VALUE timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

start_service() {
    if api_up; then
        log "podman API already serving on $SOCK"
        return
    fi
    mkdir -p "$SOCK_DIR" "$(dirname "$LOG")"
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        log "service pid $(cat "$PIDFILE") exists but does not answer; restarting it"
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$SOCK"
    # setsid + nohup: the service outlives this script (and the shell that ran it).
    nohup setsid podman system service --time=0 "unix://$SOCK" >>"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 60); do
        if api_up; then
            log "podman API serving on $SOCK (pid $(cat "$PIDFILE"), log $LOG)"
            return
        fi
        sleep 0.5
    done
    log "podman API did not come up; last log lines:"
    tail -20 "$LOG" >&2 || true
    exit 1
}

stop_service() {
    if [ -f "$PIDFILE" ]; then
        local pid
        pid=$(cat "$PIDFILE")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
            log "stopped podman API service (pid $pid)"
        fi
        rm -f "$PIDFILE" "$SOCK"
    else
        log "no service started by this script is running"
    fi
}

case "${1:-start}" in
    start)
        need_root
        install_packages
        configure
        start_service
        echo "export DOCKER_HOST=$DOCKER_HOST_VALUE"
        ;;
    stop)
        stop_service
        ;;
    status)
        if api_up; then log "up ($SOCK)"; echo "export DOCKER_HOST=$DOCKER_HOST_VALUE"; else log "down"; exit 1; fi
        ;;
    env)
        echo "export DOCKER_HOST=$DOCKER_HOST_VALUE"
        ;;
    *)
        echo "usage: $0 [start|stop|status|env]" >&2
        exit 2
        ;;
esac
