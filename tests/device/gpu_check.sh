#!/usr/bin/env bash
# The real-GPU check of issue 20, for a machine with an NVIDIA driver (CI
# has none: there the fake NVML stands in, tests/fakenvml). It builds hpt,
# then gpu_check.py compares `hptagent --print-topology` (and --matrix)
# with nvidia-smi, and runs a one-trial job that checks the trainer sees
# exactly its GPU and that hpt/gpu/... utilization points arrive.
#
#   tests/device/gpu_check.sh [OUTDIR]      (default: $OUT, else ./gpu-check)
#
# Everything it finds goes to OUTDIR (summary.txt first); the exit status
# is 0 when every check passed. Needs what ops/install-deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-${OUT:-$PWD/gpu-check}}"
mkdir -p "$out"
build="${HPT_BUILD_DIR:-build}"
{
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" -j"$(nproc)" --target hptmaster hptagent >/dev/null
} >"$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 2; }
HPT_BIN_DIR="$PWD/$build/bin" python3 tests/device/gpu_check.py "$out"
