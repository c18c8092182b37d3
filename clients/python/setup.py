"""Generates the message modules into the package while it is built.

pyproject.toml holds the metadata; this file only extends build_py: after the
package's own files are copied, protoc --python_out writes
dualrpc/v1/file_service_pb2.py and dualrpc/wire/v1/wire_pb2.py next to them
in the build tree, so every wheel and install carries them. Nothing generated
is committed (the CMake build generates the same modules into <build>/python
for the in-tree tests).

protoc: $PROTOC, else `protoc` on PATH (Debian: protobuf-compiler). The .proto
files: $DUALRPC_PROTO_DIR, else the repository's proto/ (../../proto).
"""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

_HERE = os.path.dirname(os.path.abspath(__file__))
# Relative to the proto directory, as protoc -I sees them; the module paths
# follow (dualrpc/v1/file_service.proto -> dualrpc/v1/file_service_pb2.py).
CONTRACT_PROTOS = ("dualrpc/v1/file_service.proto", "dualrpc/wire/v1/wire.proto")


def _proto_dir():
    return os.environ.get("DUALRPC_PROTO_DIR") or os.path.join(_HERE, "..", "..", "proto")


def _protoc():
    protoc = os.environ.get("PROTOC") or shutil.which("protoc")
    if not protoc:
        raise RuntimeError("dualrpc: protoc not found (install protobuf-compiler or set $PROTOC)")
    return protoc


class BuildPyWithMessages(build_py):
    """build_py, then protoc --python_out into the build tree's package."""

    def run(self):
        super().run()
        proto_dir = os.path.abspath(_proto_dir())
        missing = [p for p in CONTRACT_PROTOS if not os.path.isfile(os.path.join(proto_dir, p))]
        if missing:
            raise RuntimeError(f"dualrpc: {', '.join(missing)} not found under {proto_dir} "
                               "(set $DUALRPC_PROTO_DIR)")
        self.mkpath(self.build_lib)
        subprocess.run([_protoc(), f"--python_out={self.build_lib}", f"-I{proto_dir}",
                        *(os.path.join(proto_dir, p) for p in CONTRACT_PROTOS)], check=True)

    def get_outputs(self, include_bytecode=True):
        generated = [os.path.join(self.build_lib, p[:-len(".proto")] + "_pb2.py")
                     for p in CONTRACT_PROTOS]
        return super().get_outputs(include_bytecode) + generated


setup(cmdclass={"build_py": BuildPyWithMessages})
