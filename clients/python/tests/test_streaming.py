#!/usr/bin/env python3
"""Streaming calls of the sync client (docs/PROTOCOL.md §7), on both transports.

raw://: against FakeRawServer, a scripted 1.1 peer (frames per §7.2, flow
control per §7.4, errors per §7.5). grpc://: against a grpcio server in this
file that implements WalkTree and EchoStream (and a client-streaming Join)
over generic handlers, test-only.

    /usr/bin/python3 clients/python/tests/test_streaming.py --python-gen build/python [-v]
"""

import concurrent.futures
import os
import queue
import socket
import sys
import threading
import unittest

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_TESTS_DIR))  # The dualrpc package.

from test_args import configure_from_argv  # pylint: disable=wrong-import-position

if __name__ == "__main__":
    _UNITTEST_ARGV = configure_from_argv()

# pylint: disable=wrong-import-position
import test_client
import dualrpc
from dualrpc import StatusCode
from dualrpc.wire.v1 import wire_pb2
import fake_raw_server
from fake_raw_server import (CANCEL, COMPRESSED, END_STREAM, GOAWAY, INITIAL_WINDOW, MESSAGE,
                             REQUEST, SERVER_PREFACE_1_0, WINDOW_UPDATE, FakeRawServer)
import grpc_test_server

WAIT_SECONDS = fake_raw_server.WAIT_SECONDS
# How long a test watches for a frame that must not come (the client is
# blocked by flow control); the positive check that follows bounds the test.
QUIET_SECONDS = 0.3
JOIN_METHOD = grpc_test_server.JOIN_METHOD


def tree_entry(path, depth=1):
    return dualrpc.TreeEntry(path=path, depth=depth,
                             entry=dualrpc.DirectoryEntry(name=path.rsplit("/", 1)[-1]))


def walk_batch(*paths):
    return dualrpc.WalkTreeResponse(entries=[tree_entry(p) for p in paths]).SerializeToString()


def echo_bytes(payload):
    return dualrpc.EchoRequest(payload=payload).SerializeToString()


class Feeder:
    """A blocking request iterator: yields what the test puts, ends at finish()."""

    _END = object()

    def __init__(self):
        self._queue = queue.Queue()

    def put(self, payload):
        self._queue.put(payload)

    def finish(self):
        self._queue.put(self._END)

    def __iter__(self):
        while True:
            item = self._queue.get(timeout=WAIT_SECONDS)
            if item is self._END:
                return
            yield item


def pull(stream):
    """The stream's next item, waited for on a helper thread with a bound."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(next, stream).result(WAIT_SECONDS)


class RawStreamingTestCase(test_client.RawClientTestCase):
    def assert_raises_code(self, code, function, *args):
        with self.assertRaises(dualrpc.RpcError) as raised:
            function(*args)
        self.assertEqual(raised.exception.code, code, raised.exception)
        return raised.exception

    def expect_cancel(self, peer, call_id):
        frame = peer.next_frame()
        self.assertEqual((frame.type, frame.call_id, frame.payload), (CANCEL, call_id, b""))

    def assert_quiet(self, peer):
        """Nothing more arrives from the client for QUIET_SECONDS."""
        with self.assertRaises(queue.Empty):
            peer._received.get(timeout=QUIET_SECONDS)  # pylint: disable=protected-access


class RawServerStreamingTest(RawStreamingTestCase):
    def test_walk_tree_frames_and_flattened_entries(self):
        stream = self.client.walk_tree("docs", max_depth=2, timeout=5,
                                       metadata={"authorization": "t"})
        peer = self.server.accept()
        self.assertEqual(peer.client_preface(), b"DRPC\x01\x01\x00\x00")
        request = peer.next_request()
        self.assertEqual(request.flags, END_STREAM)  # §7.2: the one request, in the REQUEST.
        self.assertEqual(request.header.method, "/dualrpc.v1.FileService/WalkTree")
        self.assertEqual([(m.key, m.value) for m in request.header.metadata],
                         [("authorization", b"t")])
        self.assertEqual(dualrpc.WalkTreeRequest.FromString(request.message),
                         dualrpc.WalkTreeRequest(path="docs", max_depth=2))
        peer.send_message(request.call_id, walk_batch("docs/a", "docs/b"))
        peer.send_message(request.call_id, walk_batch())
        peer.send_message(request.call_id, walk_batch("docs/c"))
        peer.respond(request.call_id, metadata=[("note", b"done")])
        self.assertEqual([e.path for e in stream], ["docs/a", "docs/b", "docs/c"])
        self.assertEqual(stream.code(), StatusCode.OK)
        self.assertEqual(stream.trailing_metadata(), (("note", "done"),))

    def test_error_after_some_messages(self):
        stream = self.client.walk_tree(timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        peer.send_message(request.call_id, walk_batch("a"))
        peer.send_message(request.call_id, walk_batch("b"))
        peer.respond(request.call_id, code=StatusCode.NOT_FOUND, status_message="gone",
                     metadata=[("why-bin", b"\x01")])
        self.assertEqual(pull(stream).path, "a")
        self.assertEqual(pull(stream).path, "b")
        error = self.assert_raises_code(StatusCode.NOT_FOUND, next, stream)
        self.assertEqual(error.message, "gone")
        self.assertEqual(error.trailing_metadata, (("why-bin", b"\x01"),))

    def test_deadline_mid_stream_fails_and_sends_cancel(self):
        stream = self.client.walk_tree(timeout=0.3)
        peer = self.server.accept()
        request = peer.next_request()
        self.assertGreater(request.header.timeout_micros, 0)
        self.assertLessEqual(request.header.timeout_micros, 300_000)
        peer.send_message(request.call_id, walk_batch("a"))
        self.assertEqual(pull(stream).path, "a")
        self.assert_raises_code(StatusCode.DEADLINE_EXCEEDED, pull, stream)
        self.expect_cancel(peer, request.call_id)
        # A late RESPONSE and MESSAGE are ignored; the connection still serves calls.
        peer.send_message(request.call_id, walk_batch("late"))
        peer.respond(request.call_id)
        call = self.start_echo(b"next", timeout=WAIT_SECONDS)
        next_request = peer.next_request()
        peer.respond(next_request.call_id, next_request.message)
        self.assertEqual(call.result(WAIT_SECONDS), b"next")

    def test_cancel_sends_cancel_and_iteration_raises_cancelled(self):
        stream = self.client.walk_tree()
        peer = self.server.accept()
        request = peer.next_request()
        peer.send_message(request.call_id, walk_batch("a", "b"))
        self.assertEqual(pull(stream).path, "a")
        self.assertTrue(stream.cancel())
        self.expect_cancel(peer, request.call_id)
        self.assert_raises_code(StatusCode.CANCELLED, next, stream)
        self.assertFalse(stream.cancel())

    def test_window_update_only_as_the_application_reads(self):
        message = echo_bytes(b"p" * 997)  # 1000 bytes; each MESSAGE costs 1012.
        cost = 12 + len(message)
        stream = self.client.echo_stream(iter([b"go"]), timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        peer.next_message(request.call_id)
        half_close = peer.next_message(request.call_id)
        self.assertEqual((half_close.flags, half_close.payload), (END_STREAM, b""))
        fits = -(-INITIAL_WINDOW // cost)  # Sent while the window is > 0.
        for _ in range(fits):
            peer.send_message(request.call_id, message)
        self.assert_quiet(peer)  # Received is not consumed: no credit yet.
        consumed_for_update = -(-INITIAL_WINDOW // 2 // cost)
        for _ in range(consumed_for_update - 1):
            pull(stream)
        self.assert_quiet(peer)
        pull(stream)
        update = peer.next_frame()
        self.assertEqual((update.type, update.call_id), (WINDOW_UPDATE, request.call_id))
        self.assertEqual(int.from_bytes(update.payload, "big"), consumed_for_update * cost)
        peer.respond(request.call_id)
        self.assertEqual(len(list(stream)), fits - consumed_for_update)

    def test_message_beyond_the_window_fails_the_call_with_cancel(self):
        message = walk_batch("x" * 1000)
        cost = 12 + len(message)
        stream = self.client.walk_tree(timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        fits = -(-INITIAL_WINDOW // cost)
        for _ in range(fits + 1):
            peer.send_message(request.call_id, message)
        self.expect_cancel(peer, request.call_id)
        self.assertEqual(len([pull(stream) for _ in range(fits)]), fits)
        error = self.assert_raises_code(StatusCode.RESOURCE_EXHAUSTED, next, stream)
        self.assertIn("flow control window exceeded", error.message)

    def test_unparseable_message_fails_internal_with_cancel(self):
        stream = self.client.walk_tree(timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        peer.send_message(request.call_id, b"\xff\xff\xff")
        self.assert_raises_code(StatusCode.INTERNAL, pull, stream)
        self.expect_cancel(peer, request.call_id)

    def test_bad_frames_fail_the_call_with_cancel(self):
        peer = None
        for flags, code in ((COMPRESSED, StatusCode.UNIMPLEMENTED),
                            (END_STREAM, StatusCode.INTERNAL)):
            with self.subTest(flags=flags):
                stream = self.client.walk_tree(timeout=WAIT_SECONDS)
                peer = peer or self.server.accept()
                request = peer.next_request()
                peer.send_message(request.call_id, b"", flags)
                self.assert_raises_code(code, pull, stream)
                self.expect_cancel(peer, request.call_id)

    def test_message_on_a_unary_call_fails_it_with_cancel(self):
        call = self.start_echo(b"x", timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        peer.send_message(request.call_id, echo_bytes(b"x"))
        self.assert_fails(call, StatusCode.INTERNAL)
        self.expect_cancel(peer, request.call_id)

    def test_bad_window_update_is_a_connection_error(self):
        stream = self.client.echo_stream(Feeder(), timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        peer.send_window_update(request.call_id, 0)
        self.assert_raises_code(StatusCode.UNAVAILABLE, pull, stream)
        goaway = peer.next_frame()
        self.assertEqual(goaway.type, GOAWAY)
        self.assertEqual(wire_pb2.ResponseHeader.FromString(goaway.payload[4:]).status_code,
                         StatusCode.INTERNAL)


class RawClientStreamingTest(RawStreamingTestCase):
    def test_bidi_ping_pong_frames(self):
        feeder = Feeder()
        stream = self.client.echo_stream(feeder, timeout=5)
        peer = self.server.accept()
        request = peer.next_request()
        self.assertEqual(request.flags, 0)  # §7.2: no END_STREAM, header only.
        self.assertEqual(request.message, b"")
        self.assertEqual(request.header.method, "/dualrpc.v1.FileService/EchoStream")
        for payload in (b"a", b"", b"ccc"):
            feeder.put(payload)
            message = peer.next_message(request.call_id)
            self.assertEqual((message.flags, message.payload), (0, echo_bytes(payload)))
            peer.send_message(request.call_id, message.payload)
            self.assertEqual(pull(stream), payload)
        feeder.finish()
        half_close = peer.next_message(request.call_id)
        self.assertEqual((half_close.flags, half_close.payload), (END_STREAM, b""))
        peer.respond(request.call_id)
        self.assertEqual(list(stream), [])
        self.assertEqual(stream.code(), StatusCode.OK)

    def test_client_streaming_response_comes_in_the_response(self):
        requests = [dualrpc.EchoRequest(payload=p) for p in (b"x", b"y")]
        call = self.pool.submit(self.client.stream_unary, JOIN_METHOD, iter(requests),
                                dualrpc.EchoResponse, timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        self.assertEqual((request.flags, request.message), (0, b""))
        got = [peer.next_message(request.call_id) for _ in range(3)]
        self.assertEqual([f.payload for f in got], [echo_bytes(b"x"), echo_bytes(b"y"), b""])
        self.assertEqual(got[-1].flags, END_STREAM)
        peer.respond(request.call_id, echo_bytes(b"xy"))
        self.assertEqual(call.result(WAIT_SECONDS).payload, b"xy")

    def test_sender_stops_at_the_window_until_window_update(self):
        payload = b"q" * 16_384
        cost = 12 + len(echo_bytes(payload))
        stream = self.client.echo_stream(iter([payload] * 10), timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        fits = -(-INITIAL_WINDOW // cost)  # 4: the window is > 0 before each.
        for _ in range(fits):
            peer.next_message(request.call_id)
        self.assert_quiet(peer)
        window = INITIAL_WINDOW - fits * cost  # <= 0 now.
        peer.send_window_update(request.call_id, -window)  # Back to exactly 0: still stopped.
        self.assert_quiet(peer)
        peer.send_window_update(request.call_id, 1)
        peer.next_message(request.call_id)  # One more, then the window is negative again.
        self.assert_quiet(peer)
        peer.send_window_update(request.call_id, 10 * cost)
        for _ in range(10 - fits - 1):
            peer.next_message(request.call_id)
        self.assertEqual(peer.next_message(request.call_id).flags, END_STREAM)
        peer.respond(request.call_id)
        self.assertEqual(list(stream), [])

    def test_request_over_the_limit_fails_the_call_with_cancel(self):
        limit = dualrpc.DEFAULT_MAX_MESSAGE_BYTES
        stream = self.client.echo_stream(iter([b"a", b"x" * limit]), timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        peer.next_message(request.call_id)
        self.expect_cancel(peer, request.call_id)
        self.assert_raises_code(StatusCode.RESOURCE_EXHAUSTED, pull, stream)

    def test_cancel_stops_the_sender(self):
        feeder = Feeder()
        stream = self.client.echo_stream(feeder, timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        feeder.put(b"a")
        peer.next_message(request.call_id)
        stream.cancel()
        self.expect_cancel(peer, request.call_id)
        feeder.put(b"b")  # Pulled after the end: never sent.
        feeder.finish()
        self.assert_raises_code(StatusCode.CANCELLED, next, stream)
        self.assert_quiet(peer)

    def test_early_response_ends_the_call_and_stops_sending(self):
        feeder = Feeder()
        stream = self.client.echo_stream(feeder, timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        peer.respond(request.call_id, code=StatusCode.PERMISSION_DENIED)
        self.assert_raises_code(StatusCode.PERMISSION_DENIED, pull, stream)
        feeder.put(b"late")
        feeder.finish()
        self.assert_quiet(peer)


class RawVersionTest(RawStreamingTestCase):
    server_options = {"server_preface": SERVER_PREFACE_1_0}

    def test_a_1_0_server_gets_no_streaming_request_and_still_serves_unary(self):
        call = self.start_echo(b"first", timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        peer.respond(request.call_id, request.message)
        self.assertEqual(call.result(WAIT_SECONDS), b"first")
        for stream in (self.client.walk_tree(timeout=WAIT_SECONDS),
                       self.client.echo_stream([b"x"], timeout=WAIT_SECONDS)):
            error = self.assert_raises_code(StatusCode.UNIMPLEMENTED, next, stream)
            self.assertIn("raw protocol 1.0", error.message)
        call = self.start_echo(b"again", timeout=WAIT_SECONDS)
        request = peer.next_request()  # The next frame is this unary REQUEST.
        self.assertEqual(request.header.method, "/dualrpc.v1.FileService/Echo")
        peer.respond(request.call_id, request.message)
        self.assertEqual(call.result(WAIT_SECONDS), b"again")
        self.assertEqual(self.server.connections_accepted, 1)


class RawPrefaceWaitTest(RawStreamingTestCase):
    def setUp(self):
        self.gate = threading.Event()
        self.server_options = {"preface_gate": self.gate}
        super().setUp()

    def test_streaming_request_waits_for_the_server_preface(self):
        call = self.pool.submit(lambda: list(self.client.walk_tree(timeout=WAIT_SECONDS)))
        peer = self.server.accept()
        self.assertEqual(peer.client_preface(), b"DRPC\x01\x01\x00\x00")
        self.assert_quiet(peer)
        self.gate.set()
        request = peer.next_request()
        self.assertEqual(request.header.method, "/dualrpc.v1.FileService/WalkTree")
        peer.respond(request.call_id)
        self.assertEqual(call.result(WAIT_SECONDS), [])


class RawNoPrefaceTest(RawStreamingTestCase):
    client_options = {"connect_timeout": 0.3}

    def setUp(self):
        self.server_options = {"preface_gate": threading.Event()}  # Never set.
        super().setUp()

    def test_no_server_preface_within_the_connect_timeout_is_unavailable(self):
        for timeout in (None, WAIT_SECONDS):
            with self.subTest(timeout=timeout):
                with self.assertRaises(dualrpc.RpcError) as raised:
                    next(self.client.walk_tree(timeout=timeout))
                self.assertEqual(raised.exception.code, StatusCode.UNAVAILABLE)
                self.assertIn("no server preface", raised.exception.message)
        with self.assertRaises(dualrpc.RpcError) as raised:
            next(self.client.walk_tree(timeout=0.1))
        self.assertEqual(raised.exception.code, StatusCode.DEADLINE_EXCEEDED)


class StartFailureTest(unittest.TestCase):
    """A call that cannot start fails from its iterator on both transports."""

    def test_failures_come_from_the_iterator(self):
        with socket.create_server(("127.0.0.1", 0)) as reserved:
            port = reserved.getsockname()[1]
        for scheme in ("raw", "grpc"):
            with self.subTest(scheme=scheme), dualrpc.connect(f"{scheme}://127.0.0.1:{port}") \
                    as client:
                for stream, code in (
                        (client.walk_tree(timeout=WAIT_SECONDS), StatusCode.UNAVAILABLE),
                        (client.echo_stream([b"x"], timeout=WAIT_SECONDS),
                         StatusCode.UNAVAILABLE),
                        (client.walk_tree(timeout=0), StatusCode.DEADLINE_EXCEEDED)):
                    with self.assertRaises(dualrpc.RpcError) as raised:
                        next(stream)
                    self.assertEqual(raised.exception.code, code, raised.exception)
                with self.assertRaises(ValueError):
                    client.unary_stream("NoSlashes", dualrpc.EchoRequest(), dualrpc.EchoResponse)


class ConformanceEchoStreamOverRawTest(unittest.TestCase):
    """The conformance runner's echo_stream cases (tests/conformance/cases.json),
    sync and aio, over raw:// against serve_echo_streams: the runner's
    scripts and the client's §7 wire end to end, before the C++ server's
    streaming lands."""

    def test_echo_stream_cases(self):
        import asyncio  # pylint: disable=import-outside-toplevel
        import json  # pylint: disable=import-outside-toplevel
        from google.protobuf import json_format  # pylint: disable=import-outside-toplevel
        import conformance_runner  # pylint: disable=import-outside-toplevel
        import dualrpc.aio  # pylint: disable=import-outside-toplevel

        cases_path = os.path.join(_TESTS_DIR, "..", "..", "..", "tests", "conformance",
                                  "cases.json")
        with open(cases_path, encoding="utf-8") as cases_file:
            # Auth cases need the conformance server's tokens: not this fake's.
            cases = [c for c in json.load(cases_file)["cases"]
                     if "echoStream" in c and "authorization" not in c]
        self.assertGreaterEqual(len(cases), 6)
        server = FakeRawServer()
        self.addCleanup(server.close)
        for _ in range(2):  # One connection for each client.
            threading.Thread(target=lambda: fake_raw_server.serve_echo_streams(server.accept()),
                             daemon=True).start()
        runner = conformance_runner.CaseRunner(dualrpc, json_format)
        aio_runner = conformance_runner.AioCaseRunner(runner, dualrpc)
        with dualrpc.connect(server.target) as client:
            results = [conformance_runner._report(runner, "sync raw-fake", case,  # pylint: disable=protected-access
                                                  runner.run(client, case))
                       for case in cases]
        results += asyncio.run(conformance_runner._run_aio(  # pylint: disable=protected-access
            runner, aio_runner, dualrpc.aio, server.target, "aio  raw-fake", cases))
        self.assertEqual(results, [True] * 2 * len(cases))


class GrpcStreamingTest(unittest.TestCase):
    """The same API over grpc://, against grpc_test_server."""

    def setUp(self):
        self.server = grpc_test_server.start()
        self.addCleanup(self.server.stop)
        self.client = dualrpc.connect(self.server.target)
        self.addCleanup(self.client.close)

    def assert_raises_code(self, code, function, *args):
        with self.assertRaises(dualrpc.RpcError) as raised:
            function(*args)
        self.assertEqual(raised.exception.code, code, raised.exception)
        return raised.exception

    def test_walk_tree_flattens_batches_and_carries_metadata(self):
        stream = self.client.walk_tree("docs", timeout=WAIT_SECONDS,
                                       metadata={"authorization": "t"})
        self.assertEqual([e.path for e in stream], grpc_test_server.WALK_PATHS)
        self.assertEqual(self.server.service.last_metadata.get("authorization"), "t")
        self.assertIn(("walk-note", "done"), stream.trailing_metadata())
        self.assertEqual(stream.code(), StatusCode.OK)

    def test_walk_tree_error_after_some_messages(self):
        stream = self.client.walk_tree("fail-after-two", timeout=WAIT_SECONDS)
        self.assertEqual([pull(stream).path for _ in range(2)], grpc_test_server.WALK_PATHS[:2])
        error = self.assert_raises_code(StatusCode.NOT_FOUND, pull, stream)
        self.assertEqual(error.message, "gone")

    def test_echo_stream_ping_pong(self):
        feeder = Feeder()
        stream = self.client.echo_stream(feeder, timeout=WAIT_SECONDS)
        for payload in (b"a", b"", b"ccc"):
            feeder.put(payload)
            self.assertEqual(pull(stream), payload)
        feeder.finish()
        self.assertEqual(list(stream), [])

    def test_stream_unary(self):
        requests = (dualrpc.EchoRequest(payload=p) for p in (b"x", b"y", b"z"))
        response = self.client.stream_unary(JOIN_METHOD, requests, dualrpc.EchoResponse,
                                            timeout=WAIT_SECONDS)
        self.assertEqual(response.payload, b"xyz")

    def test_deadline_mid_stream(self):
        stream = self.client.walk_tree("hang-after-one", timeout=0.3)
        self.assertEqual(pull(stream).path, grpc_test_server.WALK_PATHS[0])
        self.assert_raises_code(StatusCode.DEADLINE_EXCEEDED, pull, stream)

    def test_cancel_reaches_the_server(self):
        stream = self.client.walk_tree("hang-after-one", timeout=WAIT_SECONDS)
        pull(stream)
        self.assertTrue(stream.cancel())
        self.assert_raises_code(StatusCode.CANCELLED, next, stream)
        self.assertTrue(self.server.service.cancelled.wait(WAIT_SECONDS))

    def test_request_over_the_limit_is_resource_exhausted(self):
        stream = self.client.echo_stream(iter([b"a", b"x" * dualrpc.DEFAULT_MAX_MESSAGE_BYTES]),
                                         timeout=WAIT_SECONDS)
        with self.assertRaises(dualrpc.RpcError) as raised:
            list(stream)
        self.assertEqual(raised.exception.code, StatusCode.RESOURCE_EXHAUSTED)


if __name__ == "__main__":
    unittest.main(argv=_UNITTEST_ARGV)
