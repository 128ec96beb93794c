#!/usr/bin/env bash
# Builds the Debian packages hpt-master, hpt-agent and hpt-client into
# OUTDIR with CPack's DEB generator (ops/packaging.cmake says what each
# holds). A Release build in its own directory (HPT_PKG_BUILD_DIR,
# default build-pkg), only the three programs, so it does not disturb the
# development build.  Usage: bash ops/package.sh OUTDIR
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: bash ops/package.sh OUTDIR" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
build="${HPT_PKG_BUILD_DIR:-$root/build-pkg}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON -DHPT_SANITIZE= >/dev/null
cmake --build "$build" -j"${HPT_JOBS:-2}" --target hptmaster hptagent hpt hpt-man >/dev/null
(cd "$build" && cpack -G DEB -B "$out" >/dev/null)
rm -rf "$out/_CPack_Packages"
ls "$out"/*.deb
