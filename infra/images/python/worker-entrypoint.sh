#!/bin/sh
# The worker image's entrypoint. Before a Prefect worker starts it checks what its flow runs need: the host's Docker
# daemon (the sandbox runs candidates in sibling containers there) and the sandbox image on it; without them every
# execute stage would fail later, so the worker refuses to start and says why.
set -eu
mkdir -p /var/lib/dreamprm/data /var/lib/dreamprm/models /var/lib/dreamprm/reports /var/lib/dreamprm/cache \
         /var/lib/dreamprm/prefect
if [ "${1:-}" = prefect ] && [ "${2:-}" = worker ] && [ "${DREAMPRM_WORKER_SKIP_DOCKER_CHECK:-0}" != 1 ]; then
  python - <<'PY'
import os, sys
host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
sock = host[len("unix://"):] if host.startswith("unix://") else None
def fail(msg):
    print(f"worker: {msg}", file=sys.stderr, flush=True)
    sys.exit(3)
if sock and not os.path.exists(sock):
    fail(f"no Docker socket at {sock} inside the container: the host's daemon socket is not mounted. Start the daemon "
         "(bash sandbox/scripts/start-dockerd.sh) and set STACK_DOCKER_SOCKET to its socket path on the Docker host")
if sock and os.path.isdir(sock):
    fail(f"{sock} is a directory, not a socket: the path given as STACK_DOCKER_SOCKET did not exist on the Docker "
         "host when the container was created (Docker made an empty directory there); remove that directory, start "
         "the daemon, and run make stack-up again")
import docker
try:
    client = docker.from_env(timeout=20)
    client.ping()
except Exception as exc:  # noqa: BLE001
    fail(f"the Docker daemon at {host} does not answer ({type(exc).__name__}: {exc}); start it "
         "(bash sandbox/scripts/start-dockerd.sh) or point STACK_DOCKER_SOCKET at a running daemon's socket")
image = os.environ.get("DREAMPRM_SANDBOX__IMAGE", "dreamprm-sandbox:latest")
try:
    client.images.get(image)
except docker.errors.ImageNotFound:
    fail(f"the sandbox image {image} is not on the Docker daemon: build it on the host with "
         "`make sandbox-up` (python -m sandbox build-image --route auto)")
print(f"worker: Docker daemon at {host} answers, sandbox image {image} present", flush=True)
PY
fi
exec "$@"
