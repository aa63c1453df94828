"""``python -m sandbox build-image --route offline|registry|auto [--tag T] [--cache-dir D] [--force]``,
``python -m sandbox reap`` (remove containers left by crashed runs), ``python -m sandbox check`` (which backend)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sandbox")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build-image", help="build the sandbox image")
    b.add_argument("--route", choices=("offline", "registry", "auto"), default="auto")
    b.add_argument("--tag", default=None)
    b.add_argument("--cache-dir", type=Path, default=None)
    b.add_argument("--force", action="store_true")
    sub.add_parser("reap", help="remove sandbox containers whose parent process is gone")
    sub.add_parser("check", help="say which backend would be used")
    args = ap.parse_args(argv)

    if args.cmd == "build-image":
        from sandbox.image import DEFAULT_IMAGE, build_image

        route = build_image(args.route, args.tag or DEFAULT_IMAGE, args.cache_dir, force=args.force)
        print(f"image {args.tag or DEFAULT_IMAGE}: {route}")
        return 0
    if args.cmd == "reap":
        from sandbox.docker_backend import docker_client, reap_orphans

        print(f"removed {reap_orphans(docker_client(), only_dead_parents=True)} container(s)")
        return 0
    if args.cmd == "check":
        from sandbox.backends import SandboxUnavailable, available_backends

        try:
            print(", ".join(available_backends()) or "none")
        except SandboxUnavailable as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
