#!/usr/bin/env bash
# Installs the Debian packages into a clean Debian 12 root with apt-get and
# checks that they work there: the maintainer scripts ran (the user hpt,
# /var/lib/hpt 0700 owned by it, the conffiles registered), every binary's
# --version is the package's, the units verify against that root, and the
# master started as the unit starts it (as hpt, its ExecStart line) with
# the packaged cluster.yaml serves, an agent started from the packaged
# /etc/default/hptagent registers with it, and `hptmaster backup` copies
# the running master's store. The root is made with `debootstrap
# --variant=minbase bookworm` from Debian's archive, so this needs root and
# the network: it is not part of .ci/run (debootstrap took 3 min 16 s
# here; installing and checking in an existing root, under a minute).
# systemd does not run in the root (no PID 1 there), so the units are
# verified by the host's systemd-analyze and their hardening is not
# exercised; the daemons run as the units' ExecStart lines say.
#   Usage: bash ops/install-check.sh DEBDIR [ROOT]   (DEBDIR from ops/package.sh)
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: bash ops/install-check.sh DEBDIR [ROOT]" >&2; exit 2; fi
debs="$(cd "$1" && pwd)"
root="${2:-$(mktemp -d)/root}"
fail() { echo "install-check: $*" >&2; exit 1; }
if [ ! -x "$root/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
fi
in_root() { chroot "$root" "$@"; }
mkdir -p "$root/tmp/debs"
rm -f "$root/tmp/debs/"*.deb
cp "$debs"/hpt-*.deb "$root/tmp/debs/"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
trap 'umount "$root/proc" "$root/dev" 2>/dev/null || true' EXIT
in_root apt-get update -q > "$root/tmp/apt.log" 2>&1 || fail "apt-get update: $(cat "$root/tmp/apt.log")"
in_root sh -c 'cd /tmp/debs && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./hpt-master_*.deb ./hpt-agent_*.deb ./hpt-client_*.deb' \
  > "$root/tmp/apt.log" 2>&1 || fail "apt-get install: $(cat "$root/tmp/apt.log")"

version="$(dpkg-deb -f "$debs"/hpt-master_*.deb Version)"
for binary in hptmaster hptagent hpt; do
  [ "$(in_root /usr/bin/$binary --version)" = "$binary $version" ] || fail "$binary --version"
done
in_root getent passwd hpt >/dev/null || fail "no user hpt"
[ "$(in_root stat -c %a:%U /var/lib/hpt)" = "700:hpt" ] || fail "/var/lib/hpt is $(in_root stat -c %a:%U /var/lib/hpt)"
[ "$(in_root stat -c %a /var/lib/hpt-agent)" = "711" ] || fail "/var/lib/hpt-agent mode"
[ "$(in_root stat -c %a:%U:%G /etc/hpt/cluster.yaml)" = "640:root:hpt" ] || fail "cluster.yaml mode"
in_root dpkg-query -W -f='${Conffiles}\n' hpt-master | grep -q /etc/hpt/cluster.yaml || fail "conffile"
in_root dpkg-query -W -f='${Conffiles}\n' hpt-agent | grep -q /etc/default/hptagent || fail "conffile"
# The units as installed, their binaries those of the root (systemd, which
# a minbase root lacks, is the host's).
units="$(mktemp -d)"
for unit in hptmaster hptagent; do
  sed "s|/usr/bin/|$root/usr/bin/|" "$root/usr/lib/systemd/system/$unit.service" > "$units/$unit.service"
done
out="$(systemd-analyze verify "$units"/*.service 2>&1)" || fail "systemd-analyze verify: $out"
rm -rf "$units"
[ -z "$out" ] || fail "systemd-analyze verify: $out"

# The daemons as the units start them, in a network namespace of their own
# (the packaged ports, 7460 and 7470, are then free whatever this host runs).
master_cmd="$(sed -n 's/^ExecStart=//p' "$root/usr/lib/systemd/system/hptmaster.service")"
agent_cmd="$(sed -n 's/^ExecStart=//p' "$root/usr/lib/systemd/system/hptagent.service")"
rm -f "$root/var/lib/hpt/backup.db"
unshare --net sh -c "
  ip link set lo up || exit 1
  chroot --userspec=hpt:hpt '$root' sh -c 'cd /var/lib/hpt && exec $master_cmd' > '$root/tmp/master.log' 2>&1 &
  master=\$!
  chroot '$root' sh -c '. /etc/default/hptagent && exec $agent_cmd --name packaged' > '$root/tmp/agent.log' 2>&1 &
  agent=\$!
  for i in \$(seq 150); do
    if chroot '$root' hpt --master http://127.0.0.1:7470 nodes list 2>/dev/null | grep -q 'packaged *READY'; then break; fi
    sleep 0.2
  done
  chroot '$root' hpt --master http://127.0.0.1:7470 nodes list
  chroot --userspec=hpt:hpt '$root' hptmaster backup --cluster /etc/hpt/cluster.yaml /var/lib/hpt/backup.db
  status=\$?
  kill \$agent \$master
  wait
  exit \$status
" > "$root/tmp/check.log" 2>&1 || fail "the daemons: $(cat "$root/tmp/check.log" "$root/tmp/master.log" "$root/tmp/agent.log")"
grep -q "packaged *READY" "$root/tmp/check.log" || fail "the agent did not register: $(cat "$root/tmp/check.log" "$root/tmp/master.log" "$root/tmp/agent.log")"
[ -f "$root/var/lib/hpt/backup.db" ] || fail "no backup"
echo "install-check: hpt $version installed into $root with apt-get; user, directories, conffiles, units, master, agent and backup checked"
