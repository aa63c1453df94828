#!/bin/sh
# pip install during `docker build`, from the build's file server (infra/scripts/stack.sh serves it on the host's
# 127.0.0.1 for the length of the build; the build runs with --network host): $BUILD_FILES/wheels/ is a find-links
# page, and $BUILD_FILES/ca.crt exists only when the host's TLS is intercepted. The CA bundle is fetched into /tmp and
# deleted in the same RUN step, so it never lands in an image layer. PIP_OFFLINE=1: the wheelhouse holds everything
# and pip never contacts an index.
set -eu
ca=/tmp/build-ca.crt
if python3 - "${BUILD_FILES:?}/ca.crt" "$ca" <<'PY'
import sys, urllib.request
try:
    data = urllib.request.urlopen(sys.argv[1], timeout=10).read()
except Exception:  # noqa: BLE001 - no CA offered: none needed
    sys.exit(1)
open(sys.argv[2], "wb").write(data)
PY
then export PIP_CERT="$ca"; fi
if [ "${PIP_OFFLINE:-0}" = 1 ]; then export PIP_NO_INDEX=1; fi
rc=0
/opt/venv/bin/pip install -q --no-cache-dir --disable-pip-version-check --find-links "$BUILD_FILES/wheels/" "$@" || rc=$?
rm -f "$ca"
exit "$rc"
