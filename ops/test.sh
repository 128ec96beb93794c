#!/usr/bin/env bash
# Runs every test of hpt: installs the Debian packages it needs, configures
# with warnings as errors, builds, and runs ctest (cmocka unit tests and
# the pytest integration tests that drive the real binaries on loopback).
#
#   bash ops/test.sh                      # the README's test command
#   HPT_BUILD_DIR=build-asan HPT_SANITIZE=address,undefined bash ops/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash ops/install-deps.sh

build="${HPT_BUILD_DIR:-build}"
args=(-DHPT_WERROR=ON)
if [ -n "${HPT_SANITIZE:-}" ]; then
  args+=("-DHPT_SANITIZE=${HPT_SANITIZE}" -DCMAKE_BUILD_TYPE=Debug)
fi

cmake -S . -B "$build" "${args[@]}"
cmake --build "$build" -j "$(nproc)"
# OpenBLAS must not spawn a thread pool per test process.
export OPENBLAS_NUM_THREADS=1
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
