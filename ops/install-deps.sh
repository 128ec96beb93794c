#!/usr/bin/env bash
# Installs every Debian package hpt needs to build, test and run its
# quickstart. Idempotent: when everything is already there it does nothing
# and touches no network; `apt-get update` runs only when a package is
# missing. Debian's packages only, never downloads.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  # libraries hpt links
  libzmq3-dev libczmq-dev libyaml-dev libhwloc-dev libcurl4-openssl-dev
  libsqlite3-dev libjansson-dev libmicrohttpd-dev libgnutls28-dev liblapacke-dev
  libopenblas-dev libcmocka-dev
  # the system's CAs, which hpt trusts for an https:// master by default
  ca-certificates
  # integration tests, examples and benchmarks (run under /usr/bin/python3)
  python3 python3-pytest python3-zmq python3-numpy python3-sklearn
  python3-optuna python3-yaml python3-protobuf
  # Google's own client for the ml v1 API (tests/integration/test_google_client.py)
  python3-googleapi python3-httplib2
  # tools the tests drive
  procps hwloc valgrind iproute2 openssl
  # the web console's browser tests: headless Chromium driven by Selenium
  chromium chromium-driver python3-selenium
  # custom containers (imageUri): the agent's default runtime, the OCI
  # runtime the tests pick, and the busybox the test images are made of
  podman runc busybox-static
  # operations checks: promtool (alert rules, /metrics text), systemd-analyze
  # (unit files), dpkg-dev and fakeroot (the Debian packages, ops/package.sh)
  prometheus systemd dpkg-dev fakeroot
  # the man pages the packages install (ops/packaging.cmake)
  help2man
  # Slurm as a place to run trials: the tests run a single-node cluster
  # (controller, node daemon, client commands, munge for its auth)
  slurmctld slurmd slurm-client munge
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
