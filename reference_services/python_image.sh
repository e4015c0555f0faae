#!/usr/bin/env bash
# The Python reference as a local image, with no registry but Debian's and PyPI: a Debian 12
# root filesystem (debootstrap --variant=minbase with python3 and python3-venv), a venv with
# the reference's packages at the versions .venv holds (wheels fetched by .venv's pip and
# installed offline in the chroot), the reference's sources and the contract's .proto, then
# docker import. The root filesystem is kept outside the repository ($ROOTFS) and reused; the
# sources are copied afresh each time. Not run in CI: every container of a run copies its
# 230 MB under the vfs storage driver (docs/containers.md has the numbers).
#   IMAGE=otelconform/reference-python:local (default) reference_services/python_image.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
image=${IMAGE:-otelconform/reference-python:local}
root=${ROOTFS:-/var/tmp/otelconform-python-rootfs}
# The reference's run-time packages: pyproject.toml's [reference] extra and grpcio's own.
packages=(grpcio grpcio-tools grpcio-health-checking opentelemetry-api opentelemetry-sdk
  opentelemetry-exporter-otlp-proto-grpc opentelemetry-exporter-otlp-proto-http
  opentelemetry-instrumentation-grpc opentelemetry-instrumentation-system-metrics)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if [ ! -x "$root/venv/bin/python" ]; then
  command -v debootstrap >/dev/null 2>&1 ||
    $sudo flock /tmp/apt.lock env DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2
  $sudo rm -rf "$root.tmp"
  $sudo debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root.tmp" \
    http://deb.debian.org/debian >&2
  $sudo chroot "$root.tmp" python3 -m venv /venv
  "$repo/.venv/bin/python" -m pip freeze --exclude-editable | grep -vi '^atheris' > "$root.tmp/tmp/constraints.txt"
  "$repo/.venv/bin/python" -m pip download -q -d "$root.tmp/tmp/wheels" -c "$root.tmp/tmp/constraints.txt" \
    "${packages[@]}" >&2
  $sudo chroot "$root.tmp" /venv/bin/pip install -q --no-index --find-links /tmp/wheels "${packages[@]}" >&2
  $sudo rm -rf "$root.tmp/tmp/wheels" "$root.tmp/tmp/constraints.txt" "$root.tmp"/var/cache/apt/archives/*.deb \
    "$root.tmp"/var/lib/apt/lists/*
  $sudo mv "$root.tmp" "$root"
fi
$sudo rm -rf "$root/app"
$sudo mkdir -p "$root/app/reference_services/python" "$root/app/conformance/proto"
$sudo cp "$repo"/reference_services/python/*.py "$root/app/reference_services/python/"
$sudo cp "$repo"/conformance/proto/*.proto "$root/app/conformance/proto/"
$sudo tar -C "$root" -c . | docker import -c 'CMD ["/venv/bin/python", "/app/reference_services/python/server.py"]' \
  - "$image" >/dev/null
echo "$image"
