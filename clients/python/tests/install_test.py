#!/usr/bin/env python3
"""pip-installs the package from a copy of the checkout and uses only that.

    /usr/bin/python3 clients/python/tests/install_test.py --server build/bin/dualrpc-server \
        --protoc /usr/bin/protoc --expect-version 0.1.0

1. Copies clients/python and proto/ into a temporary tree laid out like a
   fresh checkout (no build/python, no generated modules), so that pip's
   in-tree build leaves nothing in the real one.
2. `pip install --target SITE --no-deps --no-build-isolation --no-index` from
   it: offline, with Debian's setuptools.
3. Checks that SITE holds the generated modules and py.typed, and that
   `import dualrpc` with PYTHONPATH=SITE alone (no $DUALRPC_PYTHON_GEN, cwd
   outside the checkout) loads SITE's package with __version__ equal to the
   CMake project's version.
4. Runs examples/list_and_echo.py from SITE's environment over grpc:// and
   raw:// against a live dualrpc-server on port 0.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
_CLIENT_DIR = os.path.dirname(_TESTS_DIR)
_REPO_DIR = os.path.dirname(os.path.dirname(_CLIENT_DIR))
sys.path.insert(0, _TESTS_DIR)

from server_process import ServerProcess  # pylint: disable=wrong-import-position

# Bounds every child process: pip's build, the import check, each example run.
STEP_TIMEOUT_SECONDS = 120
ECHO_MESSAGE = "installed hello"
LISTED_FILE = "installed-listing-marker.txt"


def fail(why):
    print(f"FAIL: {why}", file=sys.stderr)
    sys.exit(1)


def run(argv, *, env, cwd):
    print("$ " + " ".join(argv), flush=True)
    result = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=STEP_TIMEOUT_SECONDS,
                            check=False)
    print(result.stdout, end="", flush=True)
    return result


def copy_checkout(destination):
    """clients/python and proto/ at their checkout paths, minus build output."""
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "*.pyc")
    shutil.copytree(_CLIENT_DIR, os.path.join(destination, "clients", "python"), ignore=ignore)
    shutil.copytree(os.path.join(_REPO_DIR, "proto"), os.path.join(destination, "proto"),
                    ignore=shutil.ignore_patterns("CMakeLists.txt"))
    return os.path.join(destination, "clients", "python")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, help="dualrpc-server binary")
    parser.add_argument("--protoc", required=True, help="protoc for the package build")
    parser.add_argument("--expect-version", required=True, help="the CMake project's version")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dualrpc-py-install-") as work:
        source = copy_checkout(os.path.join(work, "checkout"))
        site = os.path.join(work, "site")
        base_env = {k: v for k, v in os.environ.items()
                    if k not in ("PYTHONPATH", "DUALRPC_PYTHON_GEN", "DUALRPC_PROTO_DIR")}
        build_env = dict(base_env, PROTOC=args.protoc)
        installed = run([sys.executable, "-m", "pip", "install", "--target", site, "--no-deps",
                         "--no-build-isolation", "--no-index", "--disable-pip-version-check",
                         "--no-cache-dir", source], env=build_env, cwd=work)
        if installed.returncode != 0:
            fail("pip install failed")

        for relative in ("dualrpc/v1/file_service_pb2.py", "dualrpc/wire/v1/wire_pb2.py",
                         "dualrpc/py.typed"):
            if not os.path.isfile(os.path.join(site, relative)):
                fail(f"the installed package has no {relative}")

        use_env = dict(base_env, PYTHONPATH=site)
        probe = run([sys.executable, "-c",
                     "import dualrpc; print(dualrpc.__version__); print(dualrpc.__file__)"],
                    env=use_env, cwd=work)
        if probe.returncode != 0:
            fail("import dualrpc failed with PYTHONPATH set to the install target alone")
        version, module_file = probe.stdout.split()[-2:]
        if version != args.expect_version:
            fail(f"dualrpc.__version__ is {version}, the project's version {args.expect_version}")
        if not module_file.startswith(site + os.sep):
            fail(f"dualrpc was imported from {module_file}, not from {site}")

        root = os.path.join(work, "served")
        os.mkdir(root)
        with open(os.path.join(root, LISTED_FILE), "w", encoding="utf-8") as marker:
            marker.write("x")
        example = os.path.join(source, "examples", "list_and_echo.py")
        with ServerProcess(args.server, root) as server:
            for transport in ("grpc", "raw"):
                target = f"{transport}://{server.address(transport)}"
                ran = run([sys.executable, example, target, "--message", ECHO_MESSAGE],
                          env=use_env, cwd=work)
                if ran.returncode != 0:
                    fail(f"the example failed against {target}:\n{server.stderr_text()}")
                if f"echo: {ECHO_MESSAGE}" not in ran.stdout or LISTED_FILE not in ran.stdout:
                    fail(f"the example's output against {target} lacks the echo or the listing")
    print("OK: installed package, generated modules inside, both transports")


if __name__ == "__main__":
    main()
