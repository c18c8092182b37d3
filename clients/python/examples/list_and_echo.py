#!/usr/bin/env python3
"""Echoes a message and lists a directory through dualrpc, over grpc:// or raw://.

    /usr/bin/python3 clients/python/examples/list_and_echo.py raw://127.0.0.1:50052 docs

The same code serves both transports: only the target differs. It imports
the installed package (pip install clients/python); from an uninstalled
checkout, run it with PYTHONPATH=clients/python DUALRPC_PYTHON_GEN=build/python.
"""

import argparse
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
    parser.add_argument("target", help="grpc://HOST:PORT or raw://HOST:PORT")
    parser.add_argument("path", nargs="?", default="", help="directory to list (default: root)")
    parser.add_argument("--message", default="hello, dualrpc", help="what to echo")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per call")
    args = parser.parse_args()

    with dualrpc.connect(args.target) as client:
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
