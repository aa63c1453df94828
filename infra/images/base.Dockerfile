# The stack's Debian 12 base for the offline route (no registry): FROM a rootfs imported with `docker import`
# (the sandbox's debootstrap base, or the stack's own), plus what the service images need. apt reads the Debian
# mirror over plain HTTP, so no CA bundle is involved here.
ARG ROOTFS=dreamprm-stack-rootfs:bookworm
FROM ${ROOTFS}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
ENV LANG=C.UTF-8 LC_ALL=C.UTF-8
CMD ["python3"]
