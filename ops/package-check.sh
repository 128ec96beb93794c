#!/usr/bin/env bash
# Builds the Debian packages (ops/package.sh) and checks them without
# installing them on this machine: each package's name, version (the
# --version of its binary, run from the unpacked package), dependencies
# (from dpkg-shlibdeps: the libraries each binary links), files,
# conffiles and maintainer scripts; the units as packaged pass
# `systemd-analyze verify`; and hptmaster started by the packaged unit's
# ExecStart line with the packaged /etc/hpt/cluster.yaml (paths and ports
# moved into a temporary directory) answers the API. A real install
# (`apt-get install ./hpt-*.deb` on Debian 12, docs/operations.md) also
# runs the maintainer scripts, which this check only syntax-checks.
# .ci/run calls it; it takes about 4 minutes on the 2-core CI machine,
# nearly all of it the Release build.  Usage: bash ops/package-check.sh
set -euo pipefail
root_dir="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
master_pid=""
cleanup() {
  if [ -n "$master_pid" ]; then kill "$master_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "package-check: $*" >&2; exit 1; }

bash "$root_dir/ops/package.sh" "$work/debs" >/dev/null
version="$(sed -n 's/^project(hpt VERSION \([0-9.]*\).*/\1/p' "$root_dir/CMakeLists.txt")"
[ -n "$version" ] || fail "no project version in CMakeLists.txt"

check_package() { # NAME BINARY NEEDED-LIBS...
  local name="$1" binary="$2"; shift 2
  local deb="$work/debs/${name}_${version}_amd64.deb"
  [ -f "$deb" ] || fail "$deb was not built"
  [ "$(dpkg-deb -f "$deb" Package)" = "$name" ] || fail "$deb: wrong Package"
  [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "$deb: Version is not $version"
  local depends; depends="$(dpkg-deb -f "$deb" Depends)"
  for lib in "$@"; do
    [[ ", $depends," == *", $lib"[\ ,]* ]] || fail "$name: Depends lacks $lib: $depends"
  done
  dpkg-deb -x "$deb" "$work/root"
  local printed; printed="$("$work/root/usr/bin/$binary" --version)"
  [ "$printed" = "$binary $version" ] || fail "$binary --version says '$printed', package $version"
  mkdir -p "$work/control/$name"
  dpkg-deb -e "$deb" "$work/control/$name"
  for script in postinst prerm postrm; do
    if [ -f "$work/control/$name/$script" ]; then sh -n "$work/control/$name/$script"; fi
  done
  echo "package-check: $name $version: Depends: $depends"
}
check_package hpt-master hptmaster libc6 libczmq4 libzmq5 libsqlite3-0 libmicrohttpd12 libgnutls30 adduser procps
check_package hpt-agent hptagent libc6 libczmq4 libzmq5 libhwloc15 libcurl4 libmicrohttpd12
check_package hpt-client hpt libc6 libcurl4

r="$work/root"
for f in /etc/hpt/cluster.yaml /etc/default/hptagent /usr/lib/systemd/system/hptmaster.service \
         /usr/lib/systemd/system/hptagent.service /usr/share/bash-completion/completions/hpt \
         /usr/share/man/man8/hptmaster.8.gz /usr/share/man/man8/hptagent.8.gz /usr/share/man/man1/hpt.1.gz; do
  [ -f "$r$f" ] || fail "$f is in no package"
done
grep -qx /etc/hpt/cluster.yaml "$work/control/hpt-master/conffiles" || fail "cluster.yaml is no conffile"
grep -qx /etc/default/hptagent "$work/control/hpt-agent/conffiles" || fail "hptagent default is no conffile"
zcat "$r/usr/share/man/man8/hptmaster.8.gz" | grep -q "hptmaster backup" || fail "hptmaster(8) is not its --help"
grep -q "adduser --system --group" "$work/control/hpt-master/postinst" || fail "postinst makes no user hpt"

# The units as packaged, their binaries in the unpacked root.
mkdir -p "$work/units"
for unit in hptmaster hptagent; do
  sed "s|/usr/bin/|$r/usr/bin/|" "$r/usr/lib/systemd/system/$unit.service" > "$work/units/$unit.service"
done
out="$(systemd-analyze verify "$work/units/"*.service 2>&1)" || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"

# The master as the unit starts it, with the packaged cluster.yaml.
exec_start="$(sed -n 's/^ExecStart=//p' "$r/usr/lib/systemd/system/hptmaster.service")"
api_port=$((20000 + RANDOM % 20000)); agents_port=$((api_port + 1))
sed -e "s|/var/lib/hpt|$work/state|" -e "s|127.0.0.1:7470|127.0.0.1:$api_port|" \
    -e "s|127.0.0.1:7460|127.0.0.1:$agents_port|" "$r/etc/hpt/cluster.yaml" > "$work/cluster.yaml"
mkdir -p "$work/state"
command_line="${exec_start//\/usr\/bin\//$r/usr/bin/}"
command_line="${command_line//\/etc\/hpt\/cluster.yaml/$work/cluster.yaml}"
$command_line > "$work/master.log" 2>&1 &
master_pid=$!
for _ in $(seq 100); do
  if curl -sf "http://127.0.0.1:$api_port/v1/nodes" > /dev/null; then break; fi
  kill -0 "$master_pid" 2>/dev/null || fail "the packaged master exited: $(cat "$work/master.log")"
  sleep 0.2
done
curl -sf "http://127.0.0.1:$api_port/metrics" | grep -q "^hpt_build_info{version=\"$version\"} 1$" \
  || fail "the packaged master does not answer /metrics: $(cat "$work/master.log")"
echo "package-check: the packaged master, started by its unit's ExecStart, answers; all checks passed"
