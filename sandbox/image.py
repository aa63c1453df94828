"""Build the sandbox image, by one of two routes (``python -m sandbox build-image --route offline|registry|auto``).

- ``registry``: ``FROM python:3.11-slim`` (needs a reachable registry).
- ``offline``: ``debootstrap --variant=minbase --include=python3 bookworm`` into a cache dir (once, ~70 s, only the
  Debian package mirror is needed), ``tar | docker import`` as a base image, then the same Dockerfile ``FROM`` it.
- ``auto``: registry when ``python:3.11-slim`` is present or can be pulled, else offline.

Both build with the legacy builder (the Docker SDK's build endpoint; no BuildKit). The image carries the sha256 of the
harness as a label, so a backend can tell a stale image from a current one.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

IMAGE_DIR = Path(__file__).parent / "image"
HARNESS_PATH = Path(__file__).parent / "harness.py"
DEFAULT_IMAGE = "dreamprm-sandbox:latest"
OFFLINE_BASE = "dreamprm-sandbox-base:bookworm-numpy"
REGISTRY_BASE = "python:3.11-slim"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
HARNESS_LABEL = "org.dreamprm.harness_sha256"


def harness_sha256() -> str:
    """The image's content fingerprint: harness, Dockerfile and offline base, so a change to any of them makes
    the built image stale and `build-image` rebuilds it without --force."""
    h = hashlib.sha256(HARNESS_PATH.read_bytes())
    h.update((IMAGE_DIR / "Dockerfile").read_bytes())
    h.update(OFFLINE_BASE.encode())
    return h.hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("DREAMPRM_SANDBOX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dreamprm-sandbox")
    return Path(base)


def _log(msg: str) -> None:
    print(f"[sandbox.image] {msg}", file=sys.stderr, flush=True)


def image_status(client, tag: str = DEFAULT_IMAGE) -> str:
    """'current', 'stale' (built from another harness) or 'missing'."""
    import docker

    try:
        img = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return "missing"
    return "current" if (img.labels or {}).get(HARNESS_LABEL) == harness_sha256() else "stale"


def _debootstrap(cache_dir: Path, suite: str = "bookworm") -> Path:
    rootfs = cache_dir / f"rootfs-{suite}-numpy"
    if (rootfs / "usr/bin/python3").exists():
        _log(f"rootfs cached at {rootfs}")
        return rootfs
    if not shutil.which("debootstrap"):
        raise RuntimeError("debootstrap is not installed: apt-get install -y debootstrap")
    tmp = cache_dir / f"rootfs-{suite}-numpy.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # numpy: LiveCodeBench's grader environment has it, and some accepted candidates import it.
    _log(f"debootstrap --variant=minbase --include=python3,python3-numpy {suite} -> {rootfs} (about a minute)")
    subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-numpy", suite, str(tmp),
                    DEBIAN_MIRROR],
                   check=True, stdout=subprocess.DEVNULL)
    tmp.rename(rootfs)
    return rootfs


def _import_rootfs(client, rootfs: Path, tag: str) -> None:
    import docker

    try:
        client.images.get(tag)
        _log(f"base image {tag} present")
        return
    except docker.errors.ImageNotFound:
        pass
    _log(f"docker import {rootfs} as {tag}")
    env = dict(os.environ)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        subprocess.run(["docker", "import", "-", tag], stdin=tar.stdout, check=True, env=env,
                       stdout=subprocess.DEVNULL)
    finally:
        tar.stdout.close()  # type: ignore[union-attr]
        tar.wait()


def _build(client, base: str, tag: str) -> None:
    """docker build of sandbox/image/Dockerfile + harness.py, legacy builder, BASE as a build arg."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(IMAGE_DIR / "Dockerfile", arcname="Dockerfile")
        tf.add(HARNESS_PATH, arcname="harness.py")
    buf.seek(0)
    _log(f"docker build FROM {base} -> {tag}")
    resp = client.api.build(fileobj=buf, custom_context=True, tag=tag, rm=True, forcerm=True, decode=True,
                            buildargs={"BASE": base, "HARNESS_SHA256": harness_sha256()}, pull=False)
    for chunk in resp:
        if "error" in chunk:
            raise RuntimeError(f"docker build failed: {chunk['error']}")


def _registry_available(client) -> bool:
    import docker

    try:
        client.images.get(REGISTRY_BASE)
        return True
    except docker.errors.ImageNotFound:
        pass
    try:
        _log(f"trying to pull {REGISTRY_BASE}")
        client.images.pull(REGISTRY_BASE)
        return True
    except Exception as exc:  # noqa: BLE001 - any failure means: no registry
        _log(f"no registry ({type(exc).__name__}); falling back to the offline route")
        return False


def build_image(route: str = "auto", tag: str = DEFAULT_IMAGE, cache_dir: Path | None = None,
                client=None, force: bool = False) -> str:
    """Build the sandbox image; returns the route taken. Skips work that is already done unless ``force``."""
    from sandbox.docker_backend import docker_client

    client = client or docker_client()
    if not force and image_status(client, tag) == "current":
        _log(f"{tag} is current")
        return "cached"
    if route == "auto":
        route = "registry" if _registry_available(client) else "offline"
    if route == "registry":
        _build(client, REGISTRY_BASE, tag)
    elif route == "offline":
        rootfs = _debootstrap(cache_dir or default_cache_dir())
        _import_rootfs(client, rootfs, OFFLINE_BASE)
        _build(client, OFFLINE_BASE, tag)
    else:
        raise ValueError(f"unknown route {route!r}: offline | registry | auto")
    _log(f"built {tag} by the {route} route")
    return route
