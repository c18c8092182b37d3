"""Command-line options shared by the unit tests (test_client, test_streaming,
test_aio): moved into the environment before `dualrpc` is imported."""

import argparse
import os
import sys

SERVER_BIN_ENV = "DUALRPC_SERVER_BIN"


def configure_from_argv():
    """Moves --server/--python-gen into the environment; returns unittest's argv."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--server")
    parser.add_argument("--python-gen")
    args, rest = parser.parse_known_args()
    if args.server:
        os.environ[SERVER_BIN_ENV] = args.server
    if args.python_gen:
        os.environ["DUALRPC_PYTHON_GEN"] = args.python_gen
    return [sys.argv[0]] + rest
