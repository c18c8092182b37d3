#!/usr/bin/env python3
"""Runs the language-neutral conformance suite (tests/conformance/cases.json,
schema tests/conformance/conformance.proto) through dualrpc.connect() against
one real dualrpc-server, over grpc:// and raw:// with the same code.

Prints one line per case per transport, then "N passed, M failed"; exits
non-zero on any failure. The server is always killed.

    /usr/bin/python3 clients/python/tests/conformance_runner.py \
        --server build/bin/dualrpc-server --python-gen build/python \
        --cases tests/conformance/cases.json
"""

import argparse
import dataclasses
import json
import os
import signal
import sys
import tempfile

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_TESTS_DIR))  # The dualrpc package.

from server_process import ServerProcess  # pylint: disable=wrong-import-position

TRANSPORTS = ("grpc", "raw")
CALL_TIMEOUT_SECONDS = 30.0
# A followPages case that needs more pages than this is a failure.
MAX_PAGES = 1000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="the dualrpc-server binary")
    parser.add_argument("--cases", required=True, help="tests/conformance/cases.json")
    parser.add_argument("--python-gen", help="protoc --python_out directory "
                        "(default: $DUALRPC_PYTHON_GEN)")
    return parser.parse_args()


def build_fixture(nodes, root):
    """Creates the served tree; parents come before children in `nodes`."""
    for node in nodes:
        path = os.path.join(root, node["path"])
        if "fileContents" in node:
            with open(path, "wb") as out:
                out.write(node["fileContents"].encode("utf-8"))
            os.chmod(path, 0o644)
        elif "directory" in node:
            os.mkdir(path)
            os.chmod(path, 0o755)
        elif "symlinkTarget" in node:
            os.symlink(node["symlinkTarget"], path)
        else:
            raise ValueError(f"fixture node without a kind: {node}")


@dataclasses.dataclass
class Outcome:
    """What a case produced: a status and, for OK, the response."""
    code: object  # dualrpc.StatusCode
    message: str = ""
    echo_payload: bytes = b""
    entries: list = dataclasses.field(default_factory=list)
    more_pages: bool = False


class CaseRunner:
    """Runs cases through one client; the same code for every transport."""

    def __init__(self, dualrpc, json_format):
        self._dualrpc = dualrpc
        self._json_format = json_format

    def run(self, client, case):
        try:
            if "echo" in case:
                return self._run_echo(client, case)
            return self._run_list_directory(client, case)
        except self._dualrpc.RpcError as error:
            return Outcome(error.code, error.message)

    def _parse(self, value, message_class):
        return self._json_format.ParseDict(value, message_class())

    def _run_echo(self, client, case):
        request = self._parse(case["echo"], self._dualrpc.EchoRequest)
        if case.get("echoPayloadBytes", 0):
            request.payload = b"x" * case["echoPayloadBytes"]
        payload = client.echo(request.payload, timeout=CALL_TIMEOUT_SECONDS)
        return Outcome(self._dualrpc.StatusCode.OK, echo_payload=payload)

    def _run_list_directory(self, client, case):
        request = self._parse(case["listDirectory"], self._dualrpc.ListDirectoryRequest)
        if case.get("pageTokenFromPath"):
            first = client.list_directory(case["pageTokenFromPath"], page_size=1,
                                          timeout=CALL_TIMEOUT_SECONDS)
            request.page_token = first.next_page_token
        outcome = Outcome(self._dualrpc.StatusCode.OK)
        for _ in range(MAX_PAGES):
            page = client.list_directory(request.path, request.page_size, request.page_token,
                                         timeout=CALL_TIMEOUT_SECONDS)
            outcome.entries.extend(page.entries)
            outcome.more_pages = bool(page.next_page_token)
            if not case.get("followPages") or not outcome.more_pages:
                return outcome
            request.page_token = page.next_page_token
        outcome.code, outcome.message = self._dualrpc.StatusCode.UNKNOWN, "too many pages"
        return outcome

    def problems(self, case, outcome):
        """Differences between `outcome` and the case's expectation."""
        expect = case.get("expect", {})
        want_code = expect.get("code", "OK")
        if outcome.code.name != want_code:
            return [f"expected {want_code}, got {outcome.code.name}: {outcome.message}"]
        if outcome.code != self._dualrpc.StatusCode.OK:
            return []
        if "echo" in case:
            return self._echo_problems(expect, outcome)
        return self._listing_problems(case, expect, outcome)

    def _echo_problems(self, expect, outcome):
        if expect.get("echoPayloadBytes", 0):
            want = b"x" * expect["echoPayloadBytes"]
        else:
            want = self._parse(expect.get("echo", {}), self._dualrpc.EchoResponse).payload
        if outcome.echo_payload == want:
            return []
        return [f"echoed {len(outcome.echo_payload)} bytes {outcome.echo_payload[:16]!r}, "
                f"expected {len(want)} bytes {want[:16]!r}"]

    def _listing_problems(self, case, expect, outcome):
        wanted = expect.get("entries", [])
        if len(outcome.entries) != len(wanted):
            return [f"got {len(outcome.entries)} entries "
                    f"{[entry.name for entry in outcome.entries]}, expected {len(wanted)}"]
        problems = []
        for index, (want, actual) in enumerate(zip(wanted, outcome.entries)):
            problems.extend(self._entry_problems(index, want, actual))
        if not case.get("followPages") and outcome.more_pages != expect.get("morePages", False):
            problems.append(f"more_pages is {outcome.more_pages}, "
                            f"expected {expect.get('morePages', False)}")
        return problems

    def _entry_problems(self, index, want_json, actual):
        """Compares only the fields set in the expectation's JSON."""
        entry_class = self._dualrpc.DirectoryEntry
        fields = {}
        for field in entry_class.DESCRIPTOR.fields:
            fields[field.json_name] = fields[field.name] = field
        want = self._parse(want_json, entry_class)
        problems = []
        for key in want_json:
            field = fields[key]
            got, expected = getattr(actual, field.name), getattr(want, field.name)
            if got != expected:
                if field.enum_type is not None:
                    got = field.enum_type.values_by_number[got].name
                    expected = field.enum_type.values_by_number[expected].name
                problems.append(f"entry {index} ({actual.name!r}): {key} is {got!r}, "
                                f"expected {expected!r}")
        return problems


def run_suite(suite, server, dualrpc, json_format):
    runner = CaseRunner(dualrpc, json_format)
    passed = failed = 0
    for transport in TRANSPORTS:
        with dualrpc.connect(f"{transport}://{server.address(transport)}") as client:
            for case in suite["cases"]:
                problems = runner.problems(case, runner.run(client, case))
                if problems:
                    failed += 1
                    print(f"FAIL {transport:4} {case['name']}: {'; '.join(problems)}", flush=True)
                else:
                    passed += 1
                    print(f"PASS {transport:4} {case['name']}", flush=True)
    return passed, failed


def main():
    args = parse_args()
    if args.python_gen:
        os.environ["DUALRPC_PYTHON_GEN"] = args.python_gen
    # ctest's timeout or ^C: unwind, so that the server is killed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    import dualrpc  # pylint: disable=import-outside-toplevel
    from google.protobuf import json_format  # pylint: disable=import-outside-toplevel

    with open(args.cases, encoding="utf-8") as cases:
        suite = json.load(cases)
    with tempfile.TemporaryDirectory(prefix="dualrpc-py-conformance-") as root:
        build_fixture(suite.get("fixture", []), root)
        with ServerProcess(args.server, root) as server:
            passed, failed = run_suite(suite, server, dualrpc, json_format)
            if failed:
                print("server stderr:\n" + server.stderr_text(), file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
