#!/usr/bin/env bash
# hpt quickstart: a complete tuning job on this machine.
#
# Installs the Debian packages, builds, starts a master and two agents on
# loopback with their state in a temporary directory, submits the digits
# job (examples/digits: 12 trials of an MLP on scikit-learn's digits, 3 at a
# time, Bayesian optimization), waits for it, prints the trials best first,
# and shuts everything down. Run from anywhere:
#
#   bash ops/quickstart.sh
#
# HPT_KEEP=1 keeps the temporary directory (state, logs) for a look.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

bash ops/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j "$(nproc)" > /dev/null
bin="$repo/build/bin"

tmp="$(mktemp -d /tmp/hpt-quickstart.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  if [ -z "${HPT_KEEP:-}" ]; then rm -rf "$tmp"; else echo "state and logs kept in $tmp"; fi
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api_port="$(free_port)"
agents_port="$(free_port)"
cat > "$tmp/cluster.yaml" << YAML
master:
  agents: tcp://127.0.0.1:$agents_port
  api: 127.0.0.1:$api_port
  stateDir: $tmp/state
  heartbeatInterval: 0.5s
  agentTimeout: 5s
machineTypes:
  # The digits job uses scaleTier BASIC, whose master is 'standard'; this
  # machine is small, so a trial asks for one CPU and 1 GB here, as in
  # ops/cluster.local.yaml.
  standard: {cpus: 1, memoryGb: 1}
YAML

"$bin/hptmaster" --cluster "$tmp/cluster.yaml" > "$tmp/master.log" 2>&1 &
pids+=($!)
export HPT_MASTER="http://127.0.0.1:$api_port"
# This throwaway master has no users: none of your own hpt settings (a
# token for another master would be refused here) and no config file.
unset HPT_TOKEN HPT_CA_CERT HPT_PROJECT
export HPT_CONFIG=/dev/null
for _ in $(seq 100); do
  grep -q "hptmaster ready" "$tmp/master.log" 2> /dev/null && break
  sleep 0.1
done
grep -q "hptmaster ready" "$tmp/master.log" || { cat "$tmp/master.log"; exit 1; }

for name in agent-1 agent-2; do
  "$bin/hptagent" --master "tcp://127.0.0.1:$agents_port" --name "$name" \
    --workdir "$tmp/$name" --cpus 2 --memory-gb 4 --advertise 127.0.0.1 > "$tmp/$name.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 100); do
  [ "$("$bin/hpt" nodes list 2> /dev/null | grep -c READY)" -ge 2 ] && break
  sleep 0.1
done
"$bin/hpt" nodes list

# The job ships its trainer itself: packageUris names the package
# examples/digits/trainer, which hpt builds into a source distribution.
job="digits_$(date +%Y%m%d_%H%M%S)"
start=$(date +%s)
"$bin/hpt" jobs submit training "$job" --config examples/digits/job.yaml
echo
echo "Waiting for $job (hpt jobs stream-logs $job shows the trainers' output) ..."
status=0
while :; do
  state="$("$bin/hpt" jobs describe "$job" --format json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')"
  case "$state" in
    SUCCEEDED) break ;;
    FAILED | CANCELLED) status=1; break ;;
  esac
  sleep 1
done
echo
"$bin/hpt" jobs describe "$job" --summarize
echo
echo "quickstart: job $job $state in $(( $(date +%s) - start ))s"
exit $status
