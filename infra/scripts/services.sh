#!/usr/bin/env bash
# Light local services: a Prefect server and an MLflow server as processes on 127.0.0.1, tracked by pid files.
#   infra/scripts/services.sh start   -> starts both (idempotent), waits until healthy, prints their URLs
#   infra/scripts/services.sh stop    -> stops both by pid
#   infra/scripts/services.sh status
# Environment: DREAMPRM_ROOT (project dir holding mlflow.db, mlartifacts/, .prefect/, .services/; default: the repo),
# PREFECT_PORT (4200), MLFLOW_PORT (5000), SERVICES_WAIT_S (seconds to wait for health, 180), VENV (repo .venv).
# The heavier production variant (Postgres, worker with the Docker daemon) is infra/docker-compose.yml.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
ROOT="${DREAMPRM_ROOT:-$REPO}"
mkdir -p "$ROOT"
ROOT="$(cd "$ROOT" && pwd)"
STATE="$ROOT/.services"
PREFECT_PORT="${PREFECT_PORT:-4200}"
MLFLOW_PORT="${MLFLOW_PORT:-5000}"
WAIT_S="${SERVICES_WAIT_S:-180}"
mkdir -p "$STATE"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_http() {  # url, name, pidfile, logfile
  for _ in $(seq 1 "$WAIT_S"); do
    if curl -fsS "$1" >/dev/null 2>&1; then return 0; fi
    if ! alive "$3"; then echo "$2 exited during start-up; log: $4" >&2; tail -20 "$4" >&2; return 1; fi
    sleep 1
  done
  echo "$2 did not answer at $1 within $WAIT_S s; log: $4" >&2; return 1
}

start() {
  if alive "$STATE/prefect.pid"; then echo "Prefect server already running (pid $(cat "$STATE/prefect.pid"))"; else
    # The UI's API address follows the server's host/port settings, not the --port flag: without these a server on
    # another port serves a UI that talks to 127.0.0.1:4200 (another server, or none).
    PREFECT_HOME="$ROOT/.prefect" PREFECT_SERVER_ANALYTICS_ENABLED=false \
      PREFECT_SERVER_API_HOST=127.0.0.1 PREFECT_SERVER_API_PORT="$PREFECT_PORT" \
      PREFECT_UI_API_URL="http://127.0.0.1:$PREFECT_PORT/api" PREFECT_UI_URL="http://127.0.0.1:$PREFECT_PORT" \
      setsid "$VENV/bin/prefect" server start --host 127.0.0.1 --port "$PREFECT_PORT" >"$STATE/prefect.log" 2>&1 &
    echo $! >"$STATE/prefect.pid"
  fi
  if alive "$STATE/mlflow.pid"; then echo "MLflow server already running (pid $(cat "$STATE/mlflow.pid"))"; else
    mkdir -p "$ROOT/mlartifacts"
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
      setsid "$VENV/bin/mlflow" server --backend-store-uri "sqlite:///$ROOT/mlflow.db" \
      --artifacts-destination "$ROOT/mlartifacts" --host 127.0.0.1 --port "$MLFLOW_PORT" >"$STATE/mlflow.log" 2>&1 &
    echo $! >"$STATE/mlflow.pid"
  fi
  wait_http "http://127.0.0.1:$PREFECT_PORT/api/health" "Prefect server" "$STATE/prefect.pid" "$STATE/prefect.log"
  wait_http "http://127.0.0.1:$MLFLOW_PORT/health" "MLflow server" "$STATE/mlflow.pid" "$STATE/mlflow.log"
  cat <<TXT
Prefect UI:  http://127.0.0.1:$PREFECT_PORT
MLflow UI:   http://127.0.0.1:$MLFLOW_PORT
To send runs there:
  export PREFECT_API_URL=http://127.0.0.1:$PREFECT_PORT/api
  export MLFLOW_TRACKING_URI=http://127.0.0.1:$MLFLOW_PORT
Stop with: make services-stop
TXT
}

stop_one() {  # pidfile name
  if alive "$1"; then
    pid="$(cat "$1")"
    kill -INT -- "-$pid" 2>/dev/null || kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -TERM -- "-$pid" 2>/dev/null || true
    sleep 0.5
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "stopped $2 (pid $pid)"
  else
    echo "$2 not running"
  fi
  rm -f "$1"
}

case "${1:-}" in
  start) start ;;
  stop) stop_one "$STATE/prefect.pid" "Prefect server"; stop_one "$STATE/mlflow.pid" "MLflow server" ;;
  status)
    for s in prefect mlflow; do if alive "$STATE/$s.pid"; then echo "$s: running (pid $(cat "$STATE/$s.pid"))"; else echo "$s: stopped"; fi; done ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
