#!/usr/bin/python3
"""A third-party gRPC server for dualrpc-bench load's tests: grpcio (Debian),
no reflection, no dualrpc code. It serves dualrpc.v1.FileService/Echo on
127.0.0.1 port 0 as raw bytes and answers every call with PERMISSION_DENIED
whose message lists the request metadata it received ("k=v;k=v", sorted,
grpc's own keys left out), so a test reads in the load tool's error
distribution which headers arrived.

Usage: metadata_echo_server.py --ready_file=PATH (the ready-file format of
src/dualrpc/server/ready_file.h: {"grpc": "127.0.0.1:PORT"}).
"""
import json
import os
import sys
from concurrent import futures

import grpc


def echo(request, context):
    received = sorted(
        f"{key}={value}" for key, value in context.invocation_metadata()
        if not key.startswith("grpc-") and key not in ("user-agent",))
    context.abort(grpc.StatusCode.PERMISSION_DENIED, ";".join(received))


def main():
    ready = next(a.split("=", 1)[1] for a in sys.argv[1:]
                 if a.startswith("--ready_file="))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "dualrpc.v1.FileService",
        {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with open(ready + ".tmp", "w") as f:
        json.dump({"grpc": f"127.0.0.1:{port}"}, f)
    os.rename(ready + ".tmp", ready)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
