"""A real dualrpc-server process for tests: port 0 on both transports,
addresses from --ready_file, always killed on exit."""

import ctypes
import json
import os
import signal
import subprocess
import tempfile
import time

# Longest wait for the server to write its ready file.
READY_TIMEOUT_SECONDS = 30.0
_READY_POLL_SECONDS = 0.01
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # Runs in the child between fork and exec: if this test process dies
    # (even by SIGKILL from ctest's timeout), the server gets SIGKILL too.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ServerProcess:
    """Context manager: `with ServerProcess(binary, root) as server:` then
    server.address("grpc") / server.address("raw") give "127.0.0.1:PORT"."""

    def __init__(self, binary, root, extra_flags=()):
        self._binary = binary
        self._root = root
        self._extra_flags = list(extra_flags)
        self._work_dir = None
        self._process = None
        self._addresses = {}

    def __enter__(self):
        self._work_dir = tempfile.TemporaryDirectory(prefix="dualrpc-py-server-")
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_exc_info):
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None
        if self._work_dir is not None:
            self._work_dir.cleanup()
            self._work_dir = None

    def address(self, transport):
        return self._addresses[transport]

    def send_signal(self, signum):
        self._process.send_signal(signum)

    def wait(self, timeout):
        """The exit code; subprocess.TimeoutExpired if still running."""
        return self._process.wait(timeout)

    def stderr_text(self):
        try:
            with open(self._stderr_path(), encoding="utf-8", errors="replace") as log:
                return log.read()
        except OSError:
            return ""

    def _stderr_path(self):
        return os.path.join(self._work_dir.name, "stderr.log")

    def _start(self):
        ready_path = os.path.join(self._work_dir.name, "ready.json")
        argv = [self._binary, f"--root={self._root}", "--grpc_listen=127.0.0.1:0",
                "--raw_listen=127.0.0.1:0", f"--ready_file={ready_path}", *self._extra_flags]
        with open(self._stderr_path(), "wb") as stderr:
            self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=stderr,
                                             preexec_fn=_die_with_parent)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        # The server writes the file with a rename, so it appears complete.
        while not os.path.exists(ready_path):
            try:
                code = self._process.wait(_READY_POLL_SECONDS)
                raise RuntimeError(f"dualrpc-server exited with {code} before it was ready:\n"
                                   + self.stderr_text())
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("dualrpc-server wrote no ready file within "
                                   f"{READY_TIMEOUT_SECONDS} s:\n" + self.stderr_text())
        with open(ready_path, encoding="utf-8") as ready:
            self._addresses = json.load(ready)
