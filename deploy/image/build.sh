#!/usr/bin/env bash
# Builds the registry-token container image with no registry of base images: the base is made
# from Debian's packages with mmdebstrap and imported into podman, then the project's Dockerfile
# is built on it. Run as root from anywhere: `deploy/image/build.sh [podman build flags...]`
# (docs/operations.md, "Container image", says what each flag is for). Prints the image's name
# last, on stdout; progress and the size go to stderr.
#
# Environment (all optional):
#   IMAGE           name of the image to build        (localhost/registry-token:<package.json version>)
#   BASE_IMAGE      name of the Debian base image     (localhost/debian:bookworm-slim)
#   IMAGE_CACHE     where the base tarball and the build's npm bootstrap are kept (.tools/image);
#                   a base image already in storage, or a tarball already there, is reused
#   PODMAN_STORAGE  a directory for podman's own storage (--root/--runroot/--tmpdir under it),
#                   instead of the machine's default storage
#   SUITE           the Debian suite of the base       (bookworm)
#   SOURCES         the apt sources file mmdebstrap reads (/etc/apt/sources.list.d/debian.sources)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$ROOT/package.json" | head -1)"
IMAGE="${IMAGE:-localhost/registry-token:$version}"
BASE_IMAGE="${BASE_IMAGE:-localhost/debian:bookworm-slim}"
IMAGE_CACHE="${IMAGE_CACHE:-$ROOT/.tools/image}"
SUITE="${SUITE:-bookworm}"
SOURCES="${SOURCES:-/etc/apt/sources.list.d/debian.sources}"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }
for bin in mmdebstrap podman npm; do
  command -v "$bin" >/dev/null 2>&1 || die "$bin is not on PATH (Debian packages: mmdebstrap, podman, runc; npm comes with Node.js)"
done
[ -f "$SOURCES" ] || die "$SOURCES does not exist: name the machine's Debian apt sources file in SOURCES"
[ "$(id -u)" -eq 0 ] || die "run as root: mmdebstrap --mode=root and rootful podman (there is no user namespace here)"

# No systemd or journald on these machines; cgroupfs and no event log work everywhere.
podman_flags=(--cgroup-manager cgroupfs --events-backend none)
if [ -n "${PODMAN_STORAGE:-}" ]; then
  mkdir -p "$PODMAN_STORAGE"/{root,runroot,tmp}
  podman_flags+=(--root "$PODMAN_STORAGE/root" --runroot "$PODMAN_STORAGE/runroot" --tmpdir "$PODMAN_STORAGE/tmp" --storage-driver overlay)
fi
pm() { podman "${podman_flags[@]}" "$@"; }
mkdir -p "$IMAGE_CACHE"
export TMPDIR="$IMAGE_CACHE/tmp"
mkdir -p "$TMPDIR"

# ------------------------------------------------------------------ 1. the Debian base
if pm image exists "$BASE_IMAGE"; then
  say "base $BASE_IMAGE already in storage"
else
  tarball="$IMAGE_CACHE/debian-$SUITE-minbase.tar"
  if [ ! -s "$tarball" ]; then
    say "mmdebstrap $SUITE (minbase) -> $tarball"
    # The machine's own sources file keeps the mirror's address out of this script. merged-usr
    # without the usrmerge package (which pulls in perl); no docs, man pages or locales, but
    # each package's copyright file stays.
    mmdebstrap --variant=minbase --mode=root --format=tar \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --aptopt='APT::Install-Recommends "false"' \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      "$SUITE" "$tarball.part" "$SOURCES"
    mv "$tarball.part" "$tarball"
  fi
  say "import $tarball as $BASE_IMAGE"
  pm import --change 'CMD ["/bin/bash"]' "$tarball" "$BASE_IMAGE" >/dev/null
fi

# ------------------------------------------------------------------ 2. npm for the build stage
# The build stage needs some Node.js and npm to run `npm ci`, which then installs the pinned
# Node 24 the image runs. The bootstrap is this checkout's own Node (from the pinned `node`
# package, an official build that needs only glibc) and a self-contained npm of the same version
# as the machine's; it is mounted for the build only, so no layer holds it.
bootstrap="$IMAGE_CACHE/bootstrap"
node_bin="$ROOT/node_modules/node/bin/node"
[ -x "$node_bin" ] || die "$node_bin is missing: run npm ci in $ROOT first"
npm_version="$(npm --version)"
if [ "$(cat "$bootstrap/npm.version" 2>/dev/null || true)" != "$npm_version" ]; then
  say "npm $npm_version for the build stage -> $bootstrap"
  rm -rf "$bootstrap" && mkdir -p "$bootstrap/bin" "$bootstrap/lib/npm"
  tgz="$(cd "$bootstrap" && npm pack --silent "npm@$npm_version")"
  tar -xzf "$bootstrap/$tgz" -C "$bootstrap/lib/npm" --strip-components=1
  rm -f "$bootstrap/$tgz"
  ln -s ../lib/npm/bin/npm-cli.js "$bootstrap/bin/npm"
  echo "$npm_version" > "$bootstrap/npm.version"
fi
cp -f "$node_bin" "$bootstrap/bin/node"

# ------------------------------------------------------------------ 3. the image
build_flags=(
  --isolation chroot          # the default (crun) fails here: "cgroups in hybrid mode not supported"
  --network host              # npm ci reaches the registry; nothing is left behind
  --pull=never                # the base is local; there is nothing to pull from
  --format docker             # keeps the Dockerfile's HEALTHCHECK (OCI has no such field)
  --build-arg "BASE_IMAGE=$BASE_IMAGE"
  --build-arg "npm_config_registry=$(npm config get registry)"
  --volume "$bootstrap:/opt/bootstrap:ro"
)
ca="${NODE_EXTRA_CA_CERTS:-}"
if [ -n "$ca" ] && [ -f "$ca" ]; then
  # HTTPS may go through an intercepting proxy: the build sees the machine's CA bundle, mounted
  # for the build only.
  build_flags+=(--volume "$ca:$ca:ro" --build-arg "NODE_EXTRA_CA_CERTS=$ca")
fi
say "build $IMAGE"
pm build "${build_flags[@]}" "$@" --tag "$IMAGE" --file "$ROOT/Dockerfile" "$ROOT" >&2

size="$(pm image inspect --format '{{.Size}}' "$IMAGE")"
say "built $IMAGE: $size bytes ($((size / 1000000)) MB)"
echo "$IMAGE"
