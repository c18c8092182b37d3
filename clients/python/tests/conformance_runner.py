#!/usr/bin/env python3
"""Runs the language-neutral conformance suite (tests/conformance/cases.json,
schema tests/conformance/conformance.proto) against one real dualrpc-server,
over grpc:// and raw:// with the same code, through both clients: the sync
dualrpc.connect() and the asyncio dualrpc.aio.connect().

Prints one line per case per client per transport, then "N passed, M
failed"; exits non-zero on any failure. The server is always killed.

    /usr/bin/python3 clients/python/tests/conformance_runner.py \
        --server build/bin/dualrpc-server --python-gen build/python \
        --cases tests/conformance/cases.json
"""

import argparse
import asyncio
import base64
import dataclasses
import json
import queue
import os
import signal
import sys
import tempfile

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_TESTS_DIR))  # The dualrpc package.

from server_process import ServerProcess  # pylint: disable=wrong-import-position

TRANSPORTS = ("grpc", "raw")
CLIENTS = ("sync", "aio")
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
    tree_entries: list = dataclasses.field(default_factory=list)
    echo_payloads: list = dataclasses.field(default_factory=list)


def call_timeout(case):
    """timeout_ms, in seconds (0 or unset: the runner's own bound)."""
    return case.get("timeoutMs", 0) / 1000 or CALL_TIMEOUT_SECONDS


def call_metadata(case):
    """The case's authorization (main() filled in the suite's default); ""
    sends none."""
    authorization = case.get("authorization", "")
    return [("authorization", authorization)] if authorization else None


def script_payloads(script):
    return [base64.b64decode(payload) for payload in script.get("payloads", [])]


class CaseRunner:
    """Runs cases through one sync client; the same code for every transport.
    Also holds the comparisons, which AioCaseRunner shares."""

    _END = object()  # Ends a scripted request stream: the half-close.

    def __init__(self, dualrpc, json_format):
        self._dualrpc = dualrpc
        self._json_format = json_format

    def run(self, client, case):
        outcome = Outcome(self._dualrpc.StatusCode.OK)
        try:
            if "echo" in case:
                return self._run_echo(client, case)
            if "walkTree" in case:
                request = self._parse(case["walkTree"], self._dualrpc.WalkTreeRequest)
                outcome.tree_entries.extend(client.walk_tree(
                    request.path, request.max_depth, timeout=call_timeout(case),
                    metadata=call_metadata(case)))
                return outcome
            if "echoStream" in case:
                self._run_echo_stream(client, case, outcome)
                return outcome
            return self._run_list_directory(client, case)
        except self._dualrpc.RpcError as error:
            outcome.code, outcome.message = error.code, error.message
            return outcome

    def _run_echo_stream(self, client, case, outcome):
        """EchoStreamScript (conformance.proto); responses land in `outcome`
        as they are read, so a failure keeps those read before it."""
        script = case["echoStream"]
        payloads = script_payloads(script)
        feed = queue.Queue()

        def requests():
            while (item := feed.get()) is not self._END:
                yield item

        stream = client.echo_stream(requests(), timeout=call_timeout(case),
                                    metadata=call_metadata(case))
        try:
            if script.get("sendAllFirst"):
                for payload in payloads:
                    feed.put(payload)
                feed.put(self._END)
            else:
                for payload in payloads:
                    feed.put(payload)
                    response = next(stream, None)
                    if response is None:
                        return
                    outcome.echo_payloads.append(response)
                if script.get("thenPayloadBytes"):
                    feed.put(b"x" * script["thenPayloadBytes"])
                elif script.get("thenCancel"):
                    stream.cancel()
                elif not script.get("thenWait"):
                    feed.put(self._END)
            for response in stream:
                outcome.echo_payloads.append(response)
        finally:
            feed.put(self._END)  # Releases the sender, whatever happened.

    def _parse(self, value, message_class):
        return self._json_format.ParseDict(value, message_class())

    def _run_echo(self, client, case):
        request = self._parse(case["echo"], self._dualrpc.EchoRequest)
        if case.get("echoPayloadBytes", 0):
            request.payload = b"x" * case["echoPayloadBytes"]
        payload = client.echo(request.payload, timeout=CALL_TIMEOUT_SECONDS,
                              metadata=call_metadata(case))
        return Outcome(self._dualrpc.StatusCode.OK, echo_payload=payload)

    def _run_list_directory(self, client, case):
        request = self._parse(case["listDirectory"], self._dualrpc.ListDirectoryRequest)
        if case.get("pageTokenFromPath"):
            first = client.list_directory(case["pageTokenFromPath"], page_size=1,
                                          timeout=CALL_TIMEOUT_SECONDS,
                                          metadata=call_metadata(case))
            request.page_token = first.next_page_token
        outcome = Outcome(self._dualrpc.StatusCode.OK)
        for _ in range(MAX_PAGES):
            page = client.list_directory(request.path, request.page_size, request.page_token,
                                         timeout=CALL_TIMEOUT_SECONDS,
                                         metadata=call_metadata(case))
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
        if "walkTree" in case:
            return self._tree_problems(expect, outcome)
        if "echoStream" in case:
            return []
        return self._listing_problems(case, expect, outcome)

    def stream_problems(self, case, outcome):
        """Streams: what was read before the end counts also on failure."""
        if "echoStream" not in case:
            return []
        want = script_payloads({"payloads": case.get("expect", {}).get("echoPayloads", [])})
        if outcome.echo_payloads == want:
            return []
        return [f"echoed {len(outcome.echo_payloads)} payloads "
                f"{[p[:8] for p in outcome.echo_payloads[:4]]}, expected {len(want)} "
                f"{[p[:8] for p in want[:4]]}"]

    def _tree_problems(self, expect, outcome):
        wanted = expect.get("treeEntries", [])
        if len(outcome.tree_entries) != len(wanted):
            return [f"got {len(outcome.tree_entries)} tree entries "
                    f"{[entry.path for entry in outcome.tree_entries]}, expected {len(wanted)}"]
        problems = []
        for index, (want, actual) in enumerate(zip(wanted, outcome.tree_entries)):
            problems.extend(self._fields_problems(f"tree entry {index} ({actual.path!r})",
                                                  want, actual))
        return problems

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
            problems.extend(self._fields_problems(f"entry {index} ({actual.name!r})", want,
                                                  actual))
        if not case.get("followPages") and outcome.more_pages != expect.get("morePages", False):
            problems.append(f"more_pages is {outcome.more_pages}, "
                            f"expected {expect.get('morePages', False)}")
        return problems

    def _fields_problems(self, label, want_json, actual):
        """Compares only the fields set in the expectation's JSON, into
        nested messages (a TreeEntry's entry and error)."""
        fields = {}
        for field in actual.DESCRIPTOR.fields:
            fields[field.json_name] = fields[field.name] = field
        want = self._parse(want_json, type(actual))
        problems = []
        for key, value in want_json.items():
            field = fields[key]
            got, expected = getattr(actual, field.name), getattr(want, field.name)
            if field.message_type is not None and isinstance(value, dict):
                problems.extend(self._fields_problems(f"{label}.{key}", value, got))
                continue
            if got != expected:
                if field.enum_type is not None:
                    got = field.enum_type.values_by_number[got].name
                    expected = field.enum_type.values_by_number[expected].name
                problems.append(f"{label}: {key} is {got!r}, expected {expected!r}")
        return problems


class AioCaseRunner:
    """CaseRunner's cases through a dualrpc.aio client, same comparisons."""

    def __init__(self, runner, dualrpc):
        self._runner = runner
        self._dualrpc = dualrpc

    async def run(self, client, case):
        outcome = Outcome(self._dualrpc.StatusCode.OK)
        parse = self._runner._parse  # pylint: disable=protected-access
        try:
            if "echo" in case:
                request = parse(case["echo"], self._dualrpc.EchoRequest)
                if case.get("echoPayloadBytes", 0):
                    request.payload = b"x" * case["echoPayloadBytes"]
                outcome.echo_payload = await client.echo(request.payload,
                                                         timeout=CALL_TIMEOUT_SECONDS,
                                                         metadata=call_metadata(case))
            elif "walkTree" in case:
                request = parse(case["walkTree"], self._dualrpc.WalkTreeRequest)
                async for entry in client.walk_tree(request.path, request.max_depth,
                                                    timeout=call_timeout(case),
                                                    metadata=call_metadata(case)):
                    outcome.tree_entries.append(entry)
            elif "echoStream" in case:
                await self._run_echo_stream(client, case, outcome)
            else:
                await self._run_list_directory(client, case, outcome)
        except self._dualrpc.RpcError as error:
            outcome.code, outcome.message = error.code, error.message
        return outcome

    async def _run_list_directory(self, client, case, outcome):
        request = self._runner._parse(  # pylint: disable=protected-access
            case["listDirectory"], self._dualrpc.ListDirectoryRequest)
        if case.get("pageTokenFromPath"):
            first = await client.list_directory(case["pageTokenFromPath"], page_size=1,
                                                timeout=CALL_TIMEOUT_SECONDS,
                                                metadata=call_metadata(case))
            request.page_token = first.next_page_token
        for _ in range(MAX_PAGES):
            page = await client.list_directory(request.path, request.page_size,
                                               request.page_token, timeout=CALL_TIMEOUT_SECONDS,
                                               metadata=call_metadata(case))
            outcome.entries.extend(page.entries)
            outcome.more_pages = bool(page.next_page_token)
            if not case.get("followPages") or not outcome.more_pages:
                return
            request.page_token = page.next_page_token
        outcome.code, outcome.message = self._dualrpc.StatusCode.UNKNOWN, "too many pages"

    async def _run_echo_stream(self, client, case, outcome):
        script = case["echoStream"]
        payloads = script_payloads(script)
        feed = asyncio.Queue()
        end = CaseRunner._END  # pylint: disable=protected-access

        async def requests():
            while (item := await feed.get()) is not end:
                yield item

        stream = client.echo_stream(requests(), timeout=call_timeout(case),
                                    metadata=call_metadata(case))
        try:
            if script.get("sendAllFirst"):
                for payload in payloads:
                    feed.put_nowait(payload)
                feed.put_nowait(end)
            else:
                for payload in payloads:
                    feed.put_nowait(payload)
                    try:
                        outcome.echo_payloads.append(await stream.__anext__())
                    except StopAsyncIteration:
                        return
                if script.get("thenPayloadBytes"):
                    feed.put_nowait(b"x" * script["thenPayloadBytes"])
                elif script.get("thenCancel"):
                    stream.cancel()
                elif not script.get("thenWait"):
                    feed.put_nowait(end)
            async for response in stream:
                outcome.echo_payloads.append(response)
        finally:
            feed.put_nowait(end)


def _report(runner, label, case, outcome):
    problems = runner.problems(case, outcome) + runner.stream_problems(case, outcome)
    if problems:
        print(f"FAIL {label} {case['name']}: {'; '.join(problems)}", flush=True)
        return False
    print(f"PASS {label} {case['name']}", flush=True)
    return True


async def _run_aio(runner, aio_runner, dualrpc_aio, target, label, cases):
    results = []
    async with dualrpc_aio.connect(target) as client:
        for case in cases:
            outcome = await asyncio.wait_for(aio_runner.run(client, case),
                                             2 * CALL_TIMEOUT_SECONDS)
            results.append(_report(runner, label, case, outcome))
    return results


def run_suite(suite, server, dualrpc, json_format):
    import dualrpc.aio  # pylint: disable=import-outside-toplevel,redefined-outer-name
    runner = CaseRunner(dualrpc, json_format)
    aio_runner = AioCaseRunner(runner, dualrpc)
    results = []
    for transport in TRANSPORTS:
        target = f"{transport}://{server.address(transport)}"
        label = f"sync {transport:4}"
        with dualrpc.connect(target) as client:
            for case in suite["cases"]:
                results.append(_report(runner, label, case, runner.run(client, case)))
        results.extend(asyncio.run(_run_aio(runner, aio_runner, dualrpc.aio, target,
                                            f"aio  {transport:4}", suite["cases"])))
    return results.count(True), results.count(False)


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
    for case in suite["cases"]:
        case.setdefault("authorization", suite.get("defaultAuthorization", ""))
    with tempfile.TemporaryDirectory(prefix="dualrpc-py-conformance-") as root, \
            tempfile.TemporaryDirectory(prefix="dualrpc-py-conformance-config-") as config:
        build_fixture(suite.get("fixture", []), root)
        # The server authenticates (Suite.authTokens, conformance.proto).
        tokens = os.path.join(config, "tokens")
        with open(tokens, "w", encoding="utf-8") as out:
            out.write(suite.get("authTokens", ""))
        flags = [f"--auth_tokens={tokens}",
                 f"--auth_open_methods={suite.get('authOpenMethods', '')}"]
        with ServerProcess(args.server, root, flags) as server:
            passed, failed = run_suite(suite, server, dualrpc, json_format)
            if failed:
                print("server stderr:\n" + server.stderr_text(), file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
