#!/usr/bin/env bash
# Start a Docker daemon for the sandbox, idempotently.
#
#   eval "$(sandbox/scripts/start-dockerd.sh)"     # exports DOCKER_HOST
#
# If `docker info` already answers (with DOCKER_HOST as set, or the default socket), nothing is started and the
# export line for the answering socket is printed. Otherwise dockerd is started with its data root, exec root,
# pid file and log under STATE_DIR and a unix socket at SOCKET, and the script waits until it answers.
# Environment: DREAMPRM_DOCKER_STATE (default /var/lib/dreamprm-docker), DREAMPRM_DOCKER_SOCK
# (default /var/run/dreamprm-docker.sock), DREAMPRM_DOCKER_WAIT_S (default 60).
set -euo pipefail

STATE_DIR="${DREAMPRM_DOCKER_STATE:-/var/lib/dreamprm-docker}"
SOCKET="${DREAMPRM_DOCKER_SOCK:-/var/run/dreamprm-docker.sock}"
WAIT_S="${DREAMPRM_DOCKER_WAIT_S:-60}"

log() { echo "start-dockerd: $*" >&2; }

if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
  log "docker/dockerd not found; install them first: apt-get install -y --no-install-recommends docker.io"
  exit 1
fi

# 1. Something already answers where the caller points (DOCKER_HOST) -> nothing to do.
if [ -n "${DOCKER_HOST:-}" ] && docker info >/dev/null 2>&1; then
  log "a daemon already answers at ${DOCKER_HOST}"
  echo "export DOCKER_HOST=${DOCKER_HOST}"
  exit 0
fi
# 2. Our own socket already answers (a previous run of this script) -> nothing to do.
if [ -S "${SOCKET}" ] && DOCKER_HOST="unix://${SOCKET}" docker info >/dev/null 2>&1; then
  log "a daemon already answers at unix://${SOCKET}"
  echo "export DOCKER_HOST=unix://${SOCKET}"
  exit 0
fi

mkdir -p "${STATE_DIR}/data" "${STATE_DIR}/exec" "$(dirname "${SOCKET}")"
PIDFILE="${STATE_DIR}/dockerd.pid"
# A stale pid file from a dead daemon blocks a new start.
if [ -f "${PIDFILE}" ] && ! kill -0 "$(cat "${PIDFILE}")" 2>/dev/null; then
  rm -f "${PIDFILE}"
fi
rm -f "${SOCKET}"

log "starting dockerd (state ${STATE_DIR}, socket unix://${SOCKET}, log ${STATE_DIR}/dockerd.log)"
nohup dockerd \
  --data-root "${STATE_DIR}/data" \
  --exec-root "${STATE_DIR}/exec" \
  --pidfile "${PIDFILE}" \
  -H "unix://${SOCKET}" \
  >"${STATE_DIR}/dockerd.log" 2>&1 </dev/null &

for _ in $(seq 1 $((WAIT_S * 2))); do
  if DOCKER_HOST="unix://${SOCKET}" docker info >/dev/null 2>&1; then
    log "dockerd ready"
    echo "export DOCKER_HOST=unix://${SOCKET}"
    exit 0
  fi
  sleep 0.5
done
log "dockerd did not answer within ${WAIT_S}s; last log lines:"
tail -n 20 "${STATE_DIR}/dockerd.log" >&2 || true
exit 1
