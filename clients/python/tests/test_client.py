#!/usr/bin/env python3
"""Unit tests of the dualrpc Python client, mostly its raw:// transport.

Protocol behaviour (deadlines, GOAWAY, connection loss, PING, limits) is
tested against FakeRawServer, a scripted peer; concurrency and the shared API
against a real dualrpc-server when --server (or $DUALRPC_SERVER_BIN) names
one.

    /usr/bin/python3 clients/python/tests/test_client.py \
        --server build/bin/dualrpc-server --python-gen build/python [-v]
"""

import concurrent.futures
import os
import socket
import sys
import tempfile
import threading
import unittest

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_TESTS_DIR))  # The dualrpc package.

from test_args import SERVER_BIN_ENV, configure_from_argv  # pylint: disable=wrong-import-position

if __name__ == "__main__":
    _UNITTEST_ARGV = configure_from_argv()

# pylint: disable=wrong-import-position
import dualrpc
from dualrpc import StatusCode
from dualrpc import _framing as framing
from dualrpc._target import parse_target
import fake_raw_server
from fake_raw_server import ACK, CANCEL, END_STREAM, GOAWAY, PING, FakeRawServer
from server_process import ServerProcess

WAIT_SECONDS = fake_raw_server.WAIT_SECONDS
THREADS = 32


def echo_request(payload):
    return dualrpc.EchoRequest(payload=payload).SerializeToString()


class RawClientTestCase(unittest.TestCase):
    """A client connected to a fresh FakeRawServer; calls run on a pool so
    that the test can play the server while they wait."""

    client_options = {}

    def setUp(self):
        self.server = FakeRawServer(**getattr(self, "server_options", {}))
        self.addCleanup(self.server.close)
        self.client = dualrpc.connect(self.server.target, **self.client_options)
        self.addCleanup(self.client.close)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=THREADS)
        self.addCleanup(self.pool.shutdown)

    def start_echo(self, payload, **kwargs):
        return self.pool.submit(self.client.echo, payload, **kwargs)

    def assert_fails(self, future, code):
        with self.assertRaises(dualrpc.RpcError) as raised:
            future.result(WAIT_SECONDS)
        self.assertEqual(raised.exception.code, code, raised.exception)
        return raised.exception


class RequestEncodingTest(RawClientTestCase):
    def test_preface_and_request_follow_the_protocol(self):
        call = self.start_echo(b"hi", timeout=5,
                               metadata=[("authorization", "Bearer t"), ("trace-bin", b"\x00\xff")])
        peer = self.server.accept()
        self.assertEqual(peer.client_preface(), b"DRPC\x01\x01\x00\x00")
        request = peer.next_request()
        self.assertEqual(request.call_id, 1)
        self.assertEqual(request.flags, END_STREAM)
        self.assertEqual(request.header.method, "/dualrpc.v1.FileService/Echo")
        self.assertGreater(request.header.timeout_micros, 4_000_000)
        self.assertLessEqual(request.header.timeout_micros, 5_000_000)
        self.assertEqual([(m.key, m.value) for m in request.header.metadata],
                         [("authorization", b"Bearer t"), ("trace-bin", b"\x00\xff")])
        self.assertEqual(request.message, echo_request(b"hi"))
        peer.respond(request.call_id, request.message)
        self.assertEqual(call.result(WAIT_SECONDS), b"hi")

    def test_no_deadline_sends_no_timeout(self):
        call = self.start_echo(b"")
        peer = self.server.accept()
        request = peer.next_request()
        self.assertEqual(request.header.timeout_micros, 0)
        peer.respond(request.call_id)
        self.assertEqual(call.result(WAIT_SECONDS), b"")

    def test_generic_call_accepts_method_without_leading_slash(self):
        call = self.pool.submit(self.client.call, "dualrpc.v1.FileService/ListDirectory",
                                dualrpc.ListDirectoryRequest(path="docs"),
                                dualrpc.ListDirectoryResponse)
        peer = self.server.accept()
        request = peer.next_request()
        self.assertEqual(request.header.method, "/dualrpc.v1.FileService/ListDirectory")
        reply = dualrpc.ListDirectoryResponse(entries=[dualrpc.DirectoryEntry(name="a.md")])
        peer.respond(request.call_id, reply.SerializeToString())
        self.assertEqual(call.result(WAIT_SECONDS), reply)

    def test_codec_matches_the_annotated_example(self):
        # docs/PROTOCOL.md §9.1: REQUEST id 1, Echo "hi", 5 s deadline.
        payload = framing.encode_call_payload(
            framing.request_header("/dualrpc.v1.FileService/Echo", 5_000_000, ()),
            echo_request(b"hi"))
        expected = bytes.fromhex(
            "0000002b 01 01 0000 00000001 00000023 0a1c"
            "2f6475616c7270632e76312e46696c65536572766963652f4563686f"
            "10c096b102 0a026869")
        self.assertEqual(framing.encode_request(1, payload) + payload, expected)


class ConcurrencyTest(RawClientTestCase):
    def test_out_of_order_responses_reach_their_callers_on_one_connection(self):
        payloads = [f"call {i}".encode() for i in range(THREADS)]
        calls = [self.start_echo(payload, timeout=WAIT_SECONDS) for payload in payloads]
        peer = self.server.accept()
        requests = [peer.next_request() for _ in payloads]
        ids = [request.call_id for request in requests]
        self.assertEqual(ids, sorted(set(ids)), "call ids must strictly increase on the wire")
        self.assertGreaterEqual(ids[0], 1)
        for request in reversed(requests):
            peer.respond(request.call_id, request.message)  # EchoResponse == EchoRequest bytes.
        self.assertEqual([call.result(WAIT_SECONDS) for call in calls], payloads)
        self.assertEqual(self.server.connections_accepted, 1)


class DeadlineTest(RawClientTestCase):
    def test_deadline_fails_locally_and_sends_cancel(self):
        call = self.start_echo(b"slow", timeout=0.2)
        peer = self.server.accept()
        request = peer.next_request()  # ... and never answered.
        self.assert_fails(call, StatusCode.DEADLINE_EXCEEDED)
        cancel = peer.next_frame()
        self.assertEqual((cancel.type, cancel.call_id, cancel.payload),
                         (CANCEL, request.call_id, b""))

        # A late RESPONSE is ignored; the connection still serves calls.
        peer.respond(request.call_id, echo_request(b"late"))
        call = self.start_echo(b"next", timeout=WAIT_SECONDS)
        next_request = peer.next_request()
        self.assertGreater(next_request.call_id, request.call_id)
        peer.respond(next_request.call_id, next_request.message)
        self.assertEqual(call.result(WAIT_SECONDS), b"next")
        self.assertEqual(self.server.connections_accepted, 1)

    def test_non_positive_timeout_fails_without_sending(self):
        for timeout in (0, -1):
            with self.assertRaises(dualrpc.RpcError) as raised:
                self.client.echo(b"x", timeout=timeout)
            self.assertEqual(raised.exception.code, StatusCode.DEADLINE_EXCEEDED)
        self.assertEqual(self.server.connections_accepted, 0)


class GoawayTest(RawClientTestCase):
    def test_calls_above_last_call_id_fail_and_new_calls_reconnect(self):
        first = self.start_echo(b"first", timeout=WAIT_SECONDS)
        peer = self.server.accept()
        first_request = peer.next_request()
        second = self.start_echo(b"second", timeout=WAIT_SECONDS)
        second_request = peer.next_request()

        peer.send_goaway(first_request.call_id, StatusCode.UNAVAILABLE, "server is shutting down")
        error = self.assert_fails(second, StatusCode.UNAVAILABLE)
        self.assertIn("server is shutting down", error.message)
        peer.respond(first_request.call_id, first_request.message)  # At or below last_call_id.
        self.assertEqual(first.result(WAIT_SECONDS), b"first")
        self.assertGreater(second_request.call_id, first_request.call_id)
        # Drained: the client closes the old connection itself.
        self.assertIsNone(peer.next_frame())

        third = self.start_echo(b"third", timeout=WAIT_SECONDS)
        new_peer = self.server.accept()
        request = new_peer.next_request()
        self.assertEqual(request.call_id, 1)
        new_peer.respond(request.call_id, request.message)
        self.assertEqual(third.result(WAIT_SECONDS), b"third")

    def test_two_phase_drain_notice_fails_nothing_and_second_goaway_fails_above(self):
        # PROTOCOL.md §5.3: GOAWAY 0xFFFFFFFF + PING "DRAINING", then the real
        # last_call_id once the PING's ACK is back.
        first = self.start_echo(b"first", timeout=WAIT_SECONDS)
        peer = self.server.accept()
        first_request = peer.next_request()
        second = self.start_echo(b"second", timeout=WAIT_SECONDS)
        second_request = peer.next_request()

        peer.send_goaway(0xFFFFFFFF, StatusCode.UNAVAILABLE, "server is shutting down")
        peer.send_frame(PING, 0, 0, b"DRAINING")
        ack = peer.next_frame()
        self.assertEqual((ack.type, ack.flags, ack.call_id, ack.payload),
                         (PING, ACK, 0, b"DRAINING"))
        self.assertFalse(second.done())  # The notice names no call as not run.

        peer.send_goaway(first_request.call_id, StatusCode.UNAVAILABLE, "server is shutting down")
        error = self.assert_fails(second, StatusCode.UNAVAILABLE)
        self.assertIn("did not process", error.message)
        self.assertGreater(second_request.call_id, first_request.call_id)
        peer.respond(first_request.call_id, first_request.message)
        self.assertEqual(first.result(WAIT_SECONDS), b"first")
        self.assertIsNone(peer.next_frame())  # Drained: the client closes it.

    def test_idle_goaway_then_close_reconnects(self):
        call = self.start_echo(b"a", timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        peer.respond(request.call_id, request.message)
        self.assertEqual(call.result(WAIT_SECONDS), b"a")
        peer.send_goaway(request.call_id, StatusCode.OK, "idle")
        self.assertIsNone(peer.next_frame())  # The client closes the idle connection.

        call = self.start_echo(b"b", timeout=WAIT_SECONDS)
        new_peer = self.server.accept()
        request = new_peer.next_request()
        new_peer.respond(request.call_id, request.message)
        self.assertEqual(call.result(WAIT_SECONDS), b"b")


class ConnectionLossTest(RawClientTestCase):
    def test_waiting_calls_fail_unavailable_and_the_next_call_reconnects(self):
        calls = [self.start_echo(b"lost", timeout=WAIT_SECONDS) for _ in range(3)]
        peer = self.server.accept()
        for _ in calls:
            peer.next_request()
        peer.close()
        for call in calls:
            self.assert_fails(call, StatusCode.UNAVAILABLE)

        call = self.start_echo(b"again", timeout=WAIT_SECONDS)
        new_peer = self.server.accept()
        request = new_peer.next_request()
        new_peer.respond(request.call_id, request.message)
        self.assertEqual(call.result(WAIT_SECONDS), b"again")

    def test_nothing_listening_is_unavailable(self):
        with socket.create_server(("127.0.0.1", 0)) as reserved:
            port = reserved.getsockname()[1]
        with dualrpc.connect(f"raw://127.0.0.1:{port}") as client:
            with self.assertRaises(dualrpc.RpcError) as raised:
                client.echo(b"x", timeout=WAIT_SECONDS)
        self.assertEqual(raised.exception.code, StatusCode.UNAVAILABLE)

    def test_close_cancels_waiting_calls(self):
        call = self.start_echo(b"x", timeout=WAIT_SECONDS)
        peer = self.server.accept()
        peer.next_request()
        self.client.close()
        self.assert_fails(call, StatusCode.CANCELLED)
        self.assertIsNone(peer.next_frame())
        with self.assertRaises(dualrpc.RpcError) as raised:
            self.client.echo(b"x")
        self.assertEqual(raised.exception.code, StatusCode.CANCELLED)


class WrongPrefaceTest(RawClientTestCase):
    server_options = {"server_preface": b"HTTP/1.1"}

    def test_a_server_not_speaking_the_protocol_is_unavailable(self):
        call = self.start_echo(b"x", timeout=WAIT_SECONDS)
        self.server.accept()
        self.assert_fails(call, StatusCode.UNAVAILABLE)


class PingAndProtocolErrorTest(RawClientTestCase):
    def test_ping_is_answered_with_ack(self):
        call = self.start_echo(b"x", timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        peer.send_frame(PING, 0, 0, b"12345678")
        ack = peer.next_frame()
        self.assertEqual((ack.type, ack.flags, ack.call_id, ack.payload),
                         (PING, ACK, 0, b"12345678"))
        peer.respond(request.call_id, request.message)
        self.assertEqual(call.result(WAIT_SECONDS), b"x")

    def test_unknown_frame_type_ends_the_connection_with_goaway(self):
        call = self.start_echo(b"x", timeout=WAIT_SECONDS)
        peer = self.server.accept()
        peer.next_request()
        peer.send_frame(0x7F, 0, 0, b"")
        self.assert_fails(call, StatusCode.UNAVAILABLE)
        goaway = peer.next_frame()
        self.assertEqual(goaway.type, GOAWAY)
        self.assertEqual(dualrpc.wire.v1.wire_pb2.ResponseHeader.FromString(
            goaway.payload[4:]).status_code, StatusCode.UNIMPLEMENTED)
        self.assertIsNone(peer.next_frame())


class StatusTest(RawClientTestCase):
    def test_error_status_message_and_metadata(self):
        call = self.start_echo(b"x", timeout=WAIT_SECONDS)
        peer = self.server.accept()
        request = peer.next_request()
        peer.respond(request.call_id, code=StatusCode.NOT_FOUND, status_message="no such thing",
                     metadata=[("detail-bin", b"\x00\x01"), ("note", b"n")])
        error = self.assert_fails(call, StatusCode.NOT_FOUND)
        self.assertEqual(error.message, "no such thing")
        self.assertEqual(error.trailing_metadata, (("detail-bin", b"\x00\x01"), ("note", "n")))

    def test_codes_outside_the_range_are_unknown(self):
        call = self.start_echo(b"x", timeout=WAIT_SECONDS)
        peer = self.server.accept()
        peer.respond(peer.next_request().call_id, code=99)
        self.assert_fails(call, StatusCode.UNKNOWN)

    def test_invalid_metadata_is_rejected_before_sending(self):
        for metadata in ([("Upper", "x")], [("grpc-timeout", "1S")], [("k", "\n")],
                         [("k-bin", "not bytes")]):
            with self.subTest(metadata=metadata), self.assertRaises((ValueError, TypeError)):
                self.client.echo(b"x", metadata=metadata)
        self.assertEqual(self.server.connections_accepted, 0)


class MessageLimitTest(RawClientTestCase):
    LIMIT = 1024
    client_options = {"max_message_bytes": LIMIT}

    def test_request_over_the_limit_fails_before_sending(self):
        with self.assertRaises(dualrpc.RpcError) as raised:
            self.client.echo(b"x" * self.LIMIT)
        self.assertEqual(raised.exception.code, StatusCode.RESOURCE_EXHAUSTED)
        self.assertEqual(self.server.connections_accepted, 0)

    def test_response_over_the_limit_fails_that_call_only(self):
        # A message over the limit, and a frame over the frame limit (discarded unread).
        oversized = (self.LIMIT + 1, framing.max_frame_payload(self.LIMIT) + 1)
        call = self.start_echo(b"first", timeout=WAIT_SECONDS)
        peer = self.server.accept()
        for size in oversized:
            with self.subTest(size=size):
                request = peer.next_request()
                peer.respond(request.call_id, b"y" * size)
                self.assert_fails(call, StatusCode.RESOURCE_EXHAUSTED)
                call = self.start_echo(b"next", timeout=WAIT_SECONDS)
        request = peer.next_request()
        peer.respond(request.call_id, request.message)
        self.assertEqual(call.result(WAIT_SECONDS), b"next")
        self.assertEqual(self.server.connections_accepted, 1)


class TargetTest(unittest.TestCase):
    def test_bad_targets_are_rejected(self):
        for target in ("127.0.0.1", "http://127.0.0.1:1", "raw://127.0.0.1", "raw://:1",
                       "raw://host:0", "raw://host:65536", "raw://host:1x", "grpc://[]:1",
                       "raw+h:1", "unix:", "unix://host/s", "raw+unix:", "raw+unix://host/s",
                       "unix:///" + "x" * 200):
            with self.subTest(target=target), self.assertRaises(ValueError):
                dualrpc.connect(target)

    def test_every_form_parses(self):
        cases = {
            "grpc://h:1": ("grpc", "h", 1, "", "h:1"),
            "127.0.0.1:50051": ("grpc", "127.0.0.1", 50051, "", "127.0.0.1:50051"),
            "[::1]:50051": ("grpc", "[::1]", 50051, "", "[::1]:50051"),
            "raw://[::1]:2": ("raw", "[::1]", 2, "", "[::1]:2"),
            "unix:///run/d.sock": ("grpc", "", 0, "/run/d.sock", "unix:///run/d.sock"),
            "unix:/run/d.sock": ("grpc", "", 0, "/run/d.sock", "unix:///run/d.sock"),
            "unix:d.sock": ("grpc", "", 0, "d.sock", "unix:d.sock"),
            "raw+unix:///run/d.sock": ("raw", "", 0, "/run/d.sock", "unix:///run/d.sock"),
            "raw+unix:d.sock": ("raw", "", 0, "d.sock", "unix:d.sock"),
        }
        for text, (scheme, host, port, path, host_port) in cases.items():
            with self.subTest(target=text):
                target = parse_target(text)
                self.assertEqual((target.scheme, target.host, target.port, target.unix_path,
                                  target.host_port), (scheme, host, port, path, host_port))

    def test_bad_method_is_rejected(self):
        with dualrpc.connect("raw://127.0.0.1:1") as client:
            with self.assertRaises(ValueError):
                client.call("Echo", dualrpc.EchoRequest(), dualrpc.EchoResponse)


@unittest.skipUnless(os.environ.get(SERVER_BIN_ENV), f"needs --server or ${SERVER_BIN_ENV}")
class RealServerTest(unittest.TestCase):
    """Against a real dualrpc-server that allows one raw connection only, so
    that a client opening a second one would see its calls fail."""

    @classmethod
    def setUpClass(cls):
        cls._root = tempfile.TemporaryDirectory(prefix="dualrpc-py-unit-")
        for name in ("a.txt", "b.txt", "c.txt"):
            with open(os.path.join(cls._root.name, name), "w", encoding="utf-8") as out:
                out.write(name)
        cls._server = ServerProcess(os.environ[SERVER_BIN_ENV], cls._root.name,
                                    ["--raw_max_connections=1"])
        cls._server.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls._server.__exit__(None, None, None)
        cls._root.cleanup()

    def connect(self, transport):
        client = dualrpc.connect(f"{transport}://{self._server.address(transport)}")
        self.addCleanup(client.close)
        return client

    def test_many_threads_share_one_raw_connection(self):
        client = self.connect("raw")
        barrier = threading.Barrier(THREADS)

        def work(thread):
            barrier.wait(WAIT_SECONDS)
            for i in range(20):
                payload = f"thread {thread} call {i}".encode() * (1 + i)
                if client.echo(payload, timeout=WAIT_SECONDS) != payload:
                    return f"thread {thread}: wrong echo"
                names = [e.name for e in client.iter_directory(page_size=1, timeout=WAIT_SECONDS)]
                if names != ["a.txt", "b.txt", "c.txt"]:
                    return f"thread {thread}: listed {names}"
            return None

        with concurrent.futures.ThreadPoolExecutor(max_workers=THREADS) as pool:
            results = list(pool.map(work, range(THREADS)))
        self.assertEqual([r for r in results if r], [])

    def test_same_api_and_codes_on_both_transports(self):
        for transport in ("grpc", "raw"):
            with self.subTest(transport=transport):
                client = self.connect(transport)
                metadata = {"authorization": "Bearer t", "trace-bin": b"\x00\xff"}
                self.assertEqual(client.echo(b"\x00hi", timeout=WAIT_SECONDS, metadata=metadata),
                                 b"\x00hi")
                self.assertEqual(client.echo(b"long", timeout=1e12), b"long")
                page = client.list_directory(page_size=2, timeout=WAIT_SECONDS)
                self.assertEqual([e.name for e in page.entries], ["a.txt", "b.txt"])
                self.assertTrue(page.next_page_token)
                with self.assertRaises(dualrpc.RpcError) as raised:
                    client.list_directory("..", timeout=WAIT_SECONDS)
                self.assertEqual(raised.exception.code, StatusCode.PERMISSION_DENIED)
                self.assertIn("escapes", raised.exception.message)
                with self.assertRaises(dualrpc.RpcError) as raised:
                    client.call("/dualrpc.v1.FileService/Nope", dualrpc.EchoRequest(),
                                dualrpc.EchoResponse, timeout=WAIT_SECONDS)
                self.assertEqual(raised.exception.code, StatusCode.UNIMPLEMENTED)


@unittest.skipUnless(os.environ.get(SERVER_BIN_ENV), f"needs --server or ${SERVER_BIN_ENV}")
class UnixSocketServerTest(unittest.TestCase):
    """A real dualrpc-server listening on unix sockets for both transports."""

    def test_both_transports_over_unix_sockets(self):
        with tempfile.TemporaryDirectory(prefix="dualrpc-py-unix-") as work:
            root = os.path.join(work, "root")
            os.mkdir(root)
            with open(os.path.join(root, "a.txt"), "w", encoding="utf-8") as out:
                out.write("a")
            grpc_uri = "unix://" + os.path.join(work, "grpc.sock")
            raw_uri = "unix://" + os.path.join(work, "raw.sock")
            flags = ["--grpc_listen=" + grpc_uri, "--raw_listen=" + raw_uri]
            with ServerProcess(os.environ[SERVER_BIN_ENV], root, flags) as server:
                self.assertEqual(server.address("grpc"), grpc_uri)
                self.assertEqual(server.address("raw"), raw_uri)
                for target in (grpc_uri, "raw+" + raw_uri):
                    with self.subTest(target=target), dualrpc.connect(target) as client:
                        self.assertEqual(client.echo(b"hi", timeout=WAIT_SECONDS), b"hi")
                        names = [e.name for e in client.iter_directory(timeout=WAIT_SECONDS)]
                        self.assertEqual(names, ["a.txt"])


if __name__ == "__main__":
    unittest.main(argv=_UNITTEST_ARGV)
