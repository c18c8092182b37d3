#!/usr/bin/python3
"""ctest bench_tls_smoke: issue 11's and 13's contenders run a few calls each.

Runs `dualrpc-bench --scenario smoke --groups tls,shared-port,auth,observability`
(a few seconds) and checks, beside bench_smoke's schema checks:
  - floor-tls (the bench's own, always built) completed calls with no error,
    at the tls point, beside the plaintext floor;
  - every other variant (raw-tls, grpc-tls, raw-shared, grpc-shared,
    raw-shared-tls, grpc-shared-tls, raw-auth; issue 13's raw-accesslog,
    raw-metrics, raw-observed) either completed calls with no error at its
    group's point, or is listed as unavailable because its piece is not in this
    build: the bench's probe found no server flag or an UNIMPLEMENTED
    scheme (reason "... not merged)"). Any other outcome fails, so a variant
    whose branch is merged must run.
Nothing about speed.

Usage: tls_smoke_test.py PATH/TO/dualrpc-bench PATH/TO/smoke_test.py OUTPUT.json
"""
import importlib.util
import sys

VARIANTS = {
    "floor-tls": "tls", "raw-tls": "tls", "grpc-tls": "tls",
    "raw-shared": "shared-port", "grpc-shared": "shared-port",
    "raw-shared-tls": "shared-port", "grpc-shared-tls": "shared-port", "raw-auth": "auth",
    "raw-accesslog": "observability", "raw-metrics": "observability",
    "raw-observed": "observability",
}
ALWAYS_BUILT = {"floor-tls", "raw-accesslog"}


def main():
    bench, smoke_path, output = sys.argv[1], sys.argv[2], sys.argv[3]
    spec = importlib.util.spec_from_file_location("smoke_test", smoke_path)
    smoke = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(smoke)
    document = smoke.run_smoke(bench, output, "tls,shared-port,auth,observability")
    ran = {(r["transport"], r["group"]) for r in document["records"]}
    unavailable = {u["transport"]: u["reason"] for u in document["unavailable"]}
    for variant, group in sorted(VARIANTS.items()):
        if (variant, group) in ran:
            print("bench_tls_smoke: %s ran at %s" % (variant, group))
            continue
        reason = unavailable.get(variant)
        if variant in ALWAYS_BUILT or reason is None or not reason.endswith("not merged)"):
            smoke.fail("%s did not run at %s (%s)" % (variant, group, reason))
        print("bench_tls_smoke: %s not in this build: %s" % (variant, reason))
    # Each variant is measured beside its plaintext base.
    for variant, base in (("floor-tls", "floor"), ("raw-tls", "raw"), ("grpc-tls", "grpc"),
                          ("raw-shared", "raw"), ("grpc-shared", "grpc"),
                          ("raw-shared-tls", "raw-tls"), ("grpc-shared-tls", "grpc-tls"),
                          ("raw-auth", "raw"), ("raw-accesslog", "raw"),
                          ("raw-metrics", "raw"), ("raw-observed", "raw")):
        group = VARIANTS[variant]
        if (variant, group) in ran and (base, group) not in ran:
            smoke.fail("%s ran at %s without %s" % (variant, group, base))
    print("bench_tls_smoke: %d records OK" % len(document["records"]))


if __name__ == "__main__":
    main()
