"""Finds the message classes that protoc generates during the build.

An installed package (pip install clients/python; setup.py) carries them
inside itself, as dualrpc/v1/file_service_pb2.py and
dualrpc/wire/v1/wire_pb2.py: then nothing is searched and
$DUALRPC_PYTHON_GEN is ignored.

From the source tree (PYTHONPATH=clients/python), the CMake target `dualrpc_python_protos` writes
<build>/python/dualrpc/v1/file_service_pb2.py and
<build>/python/dualrpc/wire/v1/wire_pb2.py. Their package is `dualrpc`, like
this one, so the generated directory is added to this package's __path__:
`dualrpc.v1.file_service_pb2` then resolves there. Nothing generated is
committed.

Where to look in the source tree, first match wins:
  1. the directory named by $DUALRPC_PYTHON_GEN (nothing else if it is set);
  2. every sys.path entry (e.g. after sys.path.insert(0, "<build>/python")).
"""

import os
import sys
from typing import List

GENERATED_DIR_ENV = "DUALRPC_PYTHON_GEN"
_MARKER = os.path.join("dualrpc", "v1", "file_service_pb2.py")


def _holds_generated_code(directory: str) -> bool:
    return bool(directory) and os.path.isfile(os.path.join(directory, _MARKER))


def find_generated_dir() -> str:
    """The directory that holds dualrpc/v1/file_service_pb2.py, or ImportError."""
    named = os.environ.get(GENERATED_DIR_ENV)
    if named:
        if _holds_generated_code(named):
            return os.path.abspath(named)
        raise ImportError(
            f"${GENERATED_DIR_ENV}={named} holds no {_MARKER}: build the "
            "CMake target dualrpc_python_protos and point it at <build>/python")
    for entry in sys.path:
        if _holds_generated_code(entry):
            return os.path.abspath(entry)
    raise ImportError(
        f"dualrpc's generated messages ({_MARKER}) are not found: build the "
        f"CMake target dualrpc_python_protos, then set ${GENERATED_DIR_ENV} "
        "to <build>/python or put that directory on sys.path")


def extend_package_path(package_path: List[str]) -> None:
    """Makes the generated `dualrpc.*` modules importable from this package."""
    if any(_holds_generated_code(os.path.dirname(entry)) for entry in package_path):
        return  # Installed: the modules ship inside the package.
    generated_package = os.path.join(find_generated_dir(), "dualrpc")
    if generated_package not in package_path:
        package_path.append(generated_package)
