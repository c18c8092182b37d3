#!/usr/bin/env python3
"""Echoes a message and lists a directory through dualrpc, over grpc:// or raw://
(grpcs:// or raws:// with TLS: the CLI's -cacert, -cert, -key, -servername,
-insecure as --cacert ...; $DUALRPC_TOKEN, if set, as a bearer token).

    /usr/bin/python3 clients/python/examples/list_and_echo.py raw://127.0.0.1:50052 docs
    /usr/bin/python3 clients/python/examples/list_and_echo.py raws://localhost:50052 \
        --cacert ca.pem

The same code serves both transports: only the target differs. It imports
the installed package (pip install clients/python); from an uninstalled
checkout, run it with PYTHONPATH=clients/python DUALRPC_PYTHON_GEN=build/python.
"""

import argparse
import os
import sys

import dualrpc

_TYPE_LETTERS = {
    dualrpc.DirectoryEntry.TYPE_FILE: "-",
    dualrpc.DirectoryEntry.TYPE_DIRECTORY: "d",
    dualrpc.DirectoryEntry.TYPE_SYMLINK: "l",
    dualrpc.DirectoryEntry.TYPE_OTHER: "?",
}


def format_entry(entry):
    line = (f"{_TYPE_LETTERS.get(entry.type, '?')}{entry.mode:04o} "
            f"{entry.size_bytes:>10} {entry.modify_time.ToDatetime():%Y-%m-%d %H:%M} {entry.name}")
    if entry.type == dualrpc.DirectoryEntry.TYPE_SYMLINK:
        line += f" -> {entry.symlink_target}"
    return line


def main():
    parser = argparse.ArgumentParser(description="Echo and list through dualrpc.")
    parser.add_argument("target", help="grpc[s]://HOST:PORT or raw[s]://HOST:PORT")
    parser.add_argument("path", nargs="?", default="", help="directory to list (default: root)")
    parser.add_argument("--message", default="hello, dualrpc", help="what to echo")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per call")
    parser.add_argument("--cacert", help="PEM CA the server certificate must verify against")
    parser.add_argument("--cert", help="PEM client certificate (mTLS), with --key")
    parser.add_argument("--key", help="PEM key of --cert")
    parser.add_argument("--servername", help="name the server certificate must match")
    parser.add_argument("--insecure", action="store_true",
                        help="do not verify the server certificate (raws:// only)")
    args = parser.parse_args()

    tls = {"ca_file": args.cacert, "cert_file": args.cert, "key_file": args.key,
           "server_name": args.servername, "insecure": args.insecure}
    tls = {name: value for name, value in tls.items() if value}
    try:
        client = dualrpc.connect(args.target, token=os.environ.get("DUALRPC_TOKEN") or None,
                                 **tls)
    except ValueError as error:
        parser.error(str(error))
    with client:
        try:
            echoed = client.echo(args.message.encode(), timeout=args.timeout)
            print(f"echo: {echoed.decode(errors='replace')}")
            print(f"listing {args.path or '.'}:")
            for entry in client.iter_directory(args.path, timeout=args.timeout):
                print("  " + format_entry(entry))
        except dualrpc.RpcError as error:
            print(f"{error.code.name}: {error.message}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
