#!/usr/bin/env bash
# The load tool's overhead (docs/BENCHMARKS.md, "The load tool"): its top
# Echo rate against a dualrpc-server next to the built-in raw contender's, at
# 64 B x 32 callers over 4 connections, client and server on one core
# (taskset -c CPU, same-core), the two runs interleaved ROUNDS times. Prints
# each round's rates and CPU seconds per 1000 calls (client, server), then
# the medians: on one shared core the rate is bounded by the sum of the two
# CPU costs, which a loaded machine disturbs less than the rate itself.
# Usage: [LOAD_FLAGS="--timeout 0 ..."] bench/load_overhead.sh BUILD_DIR [ROUNDS] [CPU]
set -euo pipefail
build=${1:?usage: load_overhead.sh BUILD_DIR [ROUNDS] [CPU]}
rounds=${2:-3}
cpu=${3:-0}
bin="$build/bin"
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
payload=$(/usr/bin/python3 -c 'import base64; print(base64.b64encode(b"x" * 64).decode())')

mkdir "$work/root"
taskset -c "$cpu" "$bin/dualrpc-server" --root="$work/root" \
  --grpc_listen=127.0.0.1:0 --raw_listen=127.0.0.1:0 \
  --ready_file="$work/ready" 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
raw=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["raw"])' "$work/ready")

# utime + stime of a process, in seconds.
cpu_of() { /usr/bin/python3 -c '
import os, sys
f = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
print((int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"))' "$1"; }

results="$work/results"
for round in $(seq "$rounds"); do
  taskset -c "$cpu" "$bin/dualrpc-bench" --scenario quick --groups echo-closed \
    --payloads 64 --transports raw --pinning same-core --duration_scale 10 \
    --json "$work/builtin.json" >/dev/null 2>&1
  builtin=$(/usr/bin/python3 -c '
import json, sys
for p in json.load(open(sys.argv[1]))["records"]:
    if p["transport"] == "raw" and p["concurrency"] == 32:
        print(round(p["qps"]), p["client_cpu_s_per_1k"], p["server_cpu_s_per_1k"])
' "$work/builtin.json")
  server_before=$(cpu_of "$server")
  client_cpu=$(/usr/bin/python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime)' taskset -c "$cpu" "$bin/dualrpc-bench" load --target "raw://$raw" \
    --call dualrpc.v1.FileService/Echo -d "{\"payload\":\"$payload\"}" \
    -c 32 --connections 4 -z 2s ${LOAD_FLAGS:-} -O json -o "$work/load.json")
  server_after=$(cpu_of "$server")
  load=$(/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
k = r["count"] / 1000
print(round(r["rps"]), float(sys.argv[2]) / k, (float(sys.argv[4]) - float(sys.argv[3])) / k)
' "$work/load.json" "$client_cpu" "$server_before" "$server_after")
  echo "$builtin $load" >>"$results"
  echo "round $round: built-in raw (calls/s client server CPU s/1k) $builtin; load tool $load"
done
/usr/bin/python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
med = [statistics.median(c) for c in zip(*rows)]
print(f"median rate: built-in {med[0]:.0f}/s, load tool {med[3]:.0f}/s, "
      f"ratio {statistics.median(r[3] / r[0] for r in rows):.2f} (median of rounds)")
print(f"median CPU s/1k calls: built-in client {med[1]:.5f} server {med[2]:.5f}; "
      f"load tool client {med[4]:.5f} server {med[5]:.5f}")
print(f"one-core rate ratio from CPU: {(med[1] + med[2]) / (med[4] + med[5]):.2f}")
' "$results"
