#!/usr/bin/env bash
# System packages the sandbox needs: the Docker engine (docker.io), bubblewrap (fallback backend) and debootstrap
# (builds the sandbox base image without a registry), docker-compose (Debian 12's 1.29: runs the production stack,
# make stack-up). Idempotent: installs only what is missing.
# With DREAMPRM_INSTALL_CHROMIUM=1 (CI sets it) it also installs the system Chromium (/usr/bin/chromium) that the
# browser test tests/integration/test_ui.py drives through Playwright; no browser is downloaded by Playwright.
set -euo pipefail
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v curl >/dev/null 2>&1 || need+=(curl)
# libseccomp2: the bubblewrap backend compiles its seccomp filter with it (sandbox/seccomp.py, through ctypes)
{ ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' ; } || need+=(libseccomp2)
if [ "${DREAMPRM_INSTALL_CHROMIUM:-0}" = 1 ] && [ ! -x /usr/bin/chromium ]; then need+=(chromium); fi
if [ ${#need[@]} -eq 0 ]; then echo "system packages present"; exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2; exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
