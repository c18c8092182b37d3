#!/usr/bin/python3
"""ctest bench_smoke: runs `dualrpc-bench --scenario smoke --json FILE` on the
classic groups (issue 11's tls, shared-port and auth are
tests/bench/tls_smoke_test.py's) and checks that every contender completed
calls with no error and that every record has the schema docs/BENCHMARKS.md
documents. Nothing about speed.

Usage: smoke_test.py PATH/TO/dualrpc-bench OUTPUT.json
"""
import json
import subprocess
import sys

RECORD_FIELDS = {
    "transport": str, "workload": str, "group": str, "payload_bytes": int, "entries": int,
    "page_size": int, "mode": str, "connections": int, "concurrency": int,
    "in_flight_per_connection": int, "pinning": str, "repetitions": int, "calls": int,
    "qps": (int, float), "qps_repetitions": list, "latency_us": dict, "errors": int,
    "client_cpu_s_per_1k": (int, float), "latency_curve_us": list,
}
NULLABLE_NUMBERS = ["server_cpu_s_per_1k", "server_rss_bytes", "rate", "qps_ratio_to_grpc",
                    "qps_ratio_to_floor", "time_ratio_to_local"]
LATENCY_FIELDS = ["p50", "p90", "p99", "p999", "max"]
TRANSPORTS = {"floor", "raw", "grpc", "capnp", "local", "floor-tls", "raw-tls", "grpc-tls",
              "raw-shared", "grpc-shared", "raw-shared-tls", "grpc-shared-tls", "raw-auth",
              "raw-accesslog", "raw-metrics", "raw-observed"}
CLASSIC_GROUPS = "echo-closed,echo-pipelined,echo-open,list,stream-pingpong,stream-throughput,walk"
MODES = {"closed", "pipelined", "open"}
PINNINGS = {"same-core", "cross-core", "unpinned"}


def fail(message):
    print("bench_smoke: FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def check_record(record):
    where = "%s %s %s" % (record.get("transport"), record.get("workload"), record.get("mode"))
    for field, kind in RECORD_FIELDS.items():
        if field not in record:
            fail("%s: no %r" % (where, field))
        if not isinstance(record[field], kind) or isinstance(record[field], bool):
            fail("%s: %r is %r" % (where, field, record[field]))
    for field in NULLABLE_NUMBERS:
        if field not in record:
            fail("%s: no %r" % (where, field))
        if record[field] is not None and not isinstance(record[field], (int, float)):
            fail("%s: %r is %r" % (where, field, record[field]))
    for field in LATENCY_FIELDS:
        if not isinstance(record["latency_us"].get(field), (int, float)):
            fail("%s: latency_us.%s missing" % (where, field))
    if record["transport"] not in TRANSPORTS or record["mode"] not in MODES or \
            record["pinning"] not in PINNINGS or record["workload"] not in ("echo", "list", "echo-stream", "stream-flood", "walk"):
        fail("%s: unknown transport, mode, pinning or workload" % where)
    if record["errors"] != 0:
        fail("%s: %d errors (%s)" % (where, record["errors"], record.get("first_error")))
    if record["calls"] <= 0 or record["qps"] <= 0:
        fail("%s: no calls completed" % where)
    latency = record["latency_us"]
    if not 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p999"] <= latency["max"]:
        fail("%s: latency percentiles out of order: %r" % (where, latency))
    if record["transport"] != "local" and record["server_rss_bytes"] is None:
        fail("%s: no server RSS" % where)


def run_smoke(bench, output, groups, timeout=50):
    """Runs the smoke scenario on `groups`; returns the JSON document, every
    record checked."""
    completed = subprocess.run(
        [bench, "--scenario", "smoke", "--groups", groups, "--json", output], timeout=timeout)
    if completed.returncode != 0:
        fail("dualrpc-bench exited with %d" % completed.returncode)
    with open(output) as f:
        document = json.load(f)
    for field in ("schema_version", "scenario", "machine", "records", "servers", "unavailable"):
        if field not in document:
            fail("no top-level %r" % field)
    for record in document["records"]:
        check_record(record)
    return document


def main():
    bench, output = sys.argv[1], sys.argv[2]
    records = run_smoke(bench, output, CLASSIC_GROUPS)["records"]
    seen = {(r["transport"], r["workload"], r["mode"]) for r in records}
    for transport in ("floor", "raw", "grpc", "capnp"):
        for mode in MODES:
            if (transport, "echo", mode) not in seen:
                fail("no %s echo %s record" % (transport, mode))
    for transport in ("raw", "grpc", "local"):
        if (transport, "list", "closed") not in seen:
            fail("no %s list record" % transport)
    print("bench_smoke: %d records OK" % len(records))


if __name__ == "__main__":
    main()
