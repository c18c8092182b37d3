#!/usr/bin/env python3
"""dualrpc.aio, the asyncio client: unary and every streaming kind over raw://
(against FakeRawServer, the scripted 1.1 peer; its blocking calls run in
worker threads so the loop keeps serving the client) and over grpc://
(against grpc_test_server).

    /usr/bin/python3 clients/python/tests/test_aio.py --python-gen build/python [-v]
"""

import asyncio
import os
import sys
import unittest

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_TESTS_DIR))  # The dualrpc package.

from test_args import configure_from_argv  # pylint: disable=wrong-import-position

if __name__ == "__main__":
    _UNITTEST_ARGV = configure_from_argv()

# pylint: disable=wrong-import-position
import dualrpc
import dualrpc.aio
from dualrpc import StatusCode
import fake_raw_server
from fake_raw_server import (ACK, CANCEL, END_STREAM, INITIAL_WINDOW, PING,
                             SERVER_PREFACE_1_0, WINDOW_UPDATE, FakeRawServer)
import grpc_test_server
from test_streaming import JOIN_METHOD, QUIET_SECONDS, echo_bytes, walk_batch

WAIT_SECONDS = fake_raw_server.WAIT_SECONDS


async def in_thread(function, *args):
    return await asyncio.to_thread(function, *args)


async def bounded(awaitable):
    return await asyncio.wait_for(awaitable, WAIT_SECONDS)


class AsyncFeeder:
    """An async request iterator: yields what the test puts, ends at finish()."""

    _END = object()

    def __init__(self):
        self._queue = asyncio.Queue()

    def put(self, item):
        self._queue.put_nowait(item)

    def finish(self):
        self._queue.put_nowait(self._END)

    def __aiter__(self):
        return self

    async def __anext__(self):
        item = await bounded(self._queue.get())
        if item is self._END:
            raise StopAsyncIteration
        return item


class AioTestCase(unittest.IsolatedAsyncioTestCase):
    async def assert_raises_code(self, code, awaitable):
        with self.assertRaises(dualrpc.RpcError) as raised:
            await bounded(awaitable)
        self.assertEqual(raised.exception.code, code, raised.exception)
        return raised.exception


class AioRawTestCase(AioTestCase):
    server_options = {}

    async def asyncSetUp(self):
        self.server = FakeRawServer(**self.server_options)
        self.client = dualrpc.aio.connect(self.server.target)

    async def asyncTearDown(self):
        await self.client.close()
        await in_thread(self.server.close)

    async def accept(self):
        return await in_thread(self.server.accept)

    async def expect_cancel(self, peer, call_id):
        frame = await in_thread(peer.next_frame)
        self.assertEqual((frame.type, frame.call_id, frame.payload), (CANCEL, call_id, b""))

    async def assert_quiet(self, peer):
        with self.assertRaises(Exception):  # queue.Empty
            await in_thread(peer._received.get, True, QUIET_SECONDS)  # pylint: disable=protected-access


class AioRawUnaryTest(AioRawTestCase):
    async def test_echo_frames_are_the_sync_clients(self):
        call = asyncio.create_task(self.client.echo(b"hi", timeout=5, metadata={"k": "v"}))
        peer = await self.accept()
        self.assertEqual(await in_thread(peer.client_preface), b"DRPC\x01\x01\x00\x00")
        request = await in_thread(peer.next_request)
        self.assertEqual((request.call_id, request.flags), (1, END_STREAM))
        self.assertEqual(request.header.method, "/dualrpc.v1.FileService/Echo")
        self.assertEqual([(m.key, m.value) for m in request.header.metadata], [("k", b"v")])
        self.assertEqual(request.message, echo_bytes(b"hi"))
        await in_thread(peer.respond, request.call_id, request.message)
        self.assertEqual(await bounded(call), b"hi")

    async def test_deadline_fails_locally_and_sends_cancel(self):
        call = asyncio.create_task(self.client.echo(b"slow", timeout=0.2))
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        await self.assert_raises_code(StatusCode.DEADLINE_EXCEEDED, call)
        await self.expect_cancel(peer, request.call_id)

    async def test_task_cancellation_cancels_the_call(self):
        call = asyncio.create_task(self.client.echo(b"x"))
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        call.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await call
        await self.expect_cancel(peer, request.call_id)

    async def test_error_status_and_trailers(self):
        call = asyncio.create_task(self.client.echo(b"x", timeout=WAIT_SECONDS))
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        await in_thread(lambda: peer.respond(request.call_id, code=StatusCode.NOT_FOUND,
                                             status_message="no", metadata=[("a", b"b")]))
        error = await self.assert_raises_code(StatusCode.NOT_FOUND, call)
        self.assertEqual((error.message, error.trailing_metadata), ("no", (("a", "b"),)))

    async def test_two_phase_drain(self):
        # PROTOCOL.md §5.3: the notice (GOAWAY 0xFFFFFFFF, PING "DRAINING")
        # fails nothing and is ACKed; the second GOAWAY fails the calls above
        # its last_call_id as not run.
        first = asyncio.create_task(self.client.echo(b"first", timeout=WAIT_SECONDS))
        peer = await self.accept()
        first_request = await in_thread(peer.next_request)
        second = asyncio.create_task(self.client.echo(b"second", timeout=WAIT_SECONDS))
        second_request = await in_thread(peer.next_request)
        await in_thread(peer.send_goaway, 0xFFFFFFFF, StatusCode.UNAVAILABLE,
                        "server is shutting down")
        await in_thread(peer.send_frame, PING, 0, 0, b"DRAINING")
        ack = await in_thread(peer.next_frame)
        self.assertEqual((ack.type, ack.flags, ack.call_id, ack.payload),
                         (PING, ACK, 0, b"DRAINING"))
        self.assertFalse(second.done())
        await in_thread(peer.send_goaway, first_request.call_id, StatusCode.UNAVAILABLE,
                        "server is shutting down")
        error = await self.assert_raises_code(StatusCode.UNAVAILABLE, second)
        self.assertIn("did not process", error.message)
        self.assertGreater(second_request.call_id, first_request.call_id)
        await in_thread(peer.respond, first_request.call_id, first_request.message)
        self.assertEqual(await bounded(first), b"first")


class AioRawStreamingTest(AioRawTestCase):
    async def test_walk_tree(self):
        stream = self.client.walk_tree("docs", timeout=5)
        entries = asyncio.create_task(bounded(self._collect(stream)))
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        self.assertEqual(request.flags, END_STREAM)
        self.assertEqual(request.header.method, "/dualrpc.v1.FileService/WalkTree")
        self.assertEqual(dualrpc.WalkTreeRequest.FromString(request.message).path, "docs")
        await in_thread(peer.send_message, request.call_id, walk_batch("docs/a", "docs/b"))
        await in_thread(peer.send_message, request.call_id, walk_batch("docs/c"))
        await in_thread(lambda: peer.respond(request.call_id, metadata=[("note", b"n")]))
        self.assertEqual(await entries, ["docs/a", "docs/b", "docs/c"])
        self.assertEqual(await stream.trailing_metadata(), (("note", "n"),))
        self.assertEqual(stream.code(), StatusCode.OK)

    @staticmethod
    async def _collect(stream):
        return [entry.path async for entry in stream]

    async def test_error_after_some_messages(self):
        stream = self.client.walk_tree(timeout=WAIT_SECONDS)
        first = asyncio.create_task(bounded(stream.__anext__()))
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        await in_thread(peer.send_message, request.call_id, walk_batch("a"))
        await in_thread(lambda: peer.respond(request.call_id, code=StatusCode.ABORTED))
        self.assertEqual((await first).path, "a")
        await self.assert_raises_code(StatusCode.ABORTED, stream.__anext__())

    async def test_bidi_ping_pong_and_half_close(self):
        feeder = AsyncFeeder()
        stream = self.client.echo_stream(feeder, timeout=5)
        first = asyncio.create_task(bounded(stream.__anext__()))
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        self.assertEqual((request.flags, request.message), (0, b""))
        for index, payload in enumerate((b"a", b"", b"ccc")):
            feeder.put(payload)
            message = await in_thread(peer.next_message, request.call_id)
            self.assertEqual(message.payload, echo_bytes(payload))
            await in_thread(peer.send_message, request.call_id, message.payload)
            got = await first if index == 0 else await bounded(stream.__anext__())
            self.assertEqual(got, payload)
        feeder.finish()
        half_close = await in_thread(peer.next_message, request.call_id)
        self.assertEqual((half_close.flags, half_close.payload), (END_STREAM, b""))
        await in_thread(peer.respond, request.call_id)
        with self.assertRaises(StopAsyncIteration):
            await bounded(stream.__anext__())

    async def test_stream_unary(self):
        requests = [dualrpc.EchoRequest(payload=p) for p in (b"x", b"y")]
        call = asyncio.create_task(self.client.stream_unary(
            JOIN_METHOD, requests, dualrpc.EchoResponse, timeout=WAIT_SECONDS))
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        frames = [await in_thread(peer.next_message, request.call_id) for _ in range(3)]
        self.assertEqual([f.payload for f in frames], [echo_bytes(b"x"), echo_bytes(b"y"), b""])
        await in_thread(peer.respond, request.call_id, echo_bytes(b"xy"))
        self.assertEqual((await bounded(call)).payload, b"xy")

    async def test_sender_stops_at_the_window_until_window_update(self):
        payload = b"q" * 16_384
        cost = 12 + len(echo_bytes(payload))
        stream = self.client.echo_stream([payload] * 6, timeout=WAIT_SECONDS)
        reading = asyncio.create_task(bounded(self._collect_all(stream)))
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        fits = -(-INITIAL_WINDOW // cost)
        for _ in range(fits):
            await in_thread(peer.next_message, request.call_id)
        await self.assert_quiet(peer)
        await in_thread(peer.send_window_update, request.call_id, 10 * cost)
        for _ in range(6 - fits):
            await in_thread(peer.next_message, request.call_id)
        self.assertEqual((await in_thread(peer.next_message, request.call_id)).flags, END_STREAM)
        await in_thread(peer.respond, request.call_id)
        self.assertEqual(await reading, [])

    @staticmethod
    async def _collect_all(stream):
        return [item async for item in stream]

    async def test_window_update_only_as_the_application_reads(self):
        message = echo_bytes(b"p" * 997)
        cost = 12 + len(message)
        stream = self.client.echo_stream([], timeout=WAIT_SECONDS)
        opening = asyncio.create_task(bounded(stream.__anext__()))
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        await in_thread(peer.next_message, request.call_id)  # The half-close.
        fits = -(-INITIAL_WINDOW // cost)
        for _ in range(fits):
            await in_thread(peer.send_message, request.call_id, message)
        await opening  # One consumed.
        await self.assert_quiet(peer)
        needed = -(-INITIAL_WINDOW // 2 // cost)
        for _ in range(needed - 1):
            await bounded(stream.__anext__())
        update = await in_thread(peer.next_frame)
        self.assertEqual((update.type, update.call_id), (WINDOW_UPDATE, request.call_id))
        self.assertEqual(int.from_bytes(update.payload, "big"), needed * cost)
        await in_thread(peer.respond, request.call_id)
        self.assertEqual(len(await bounded(self._collect_all(stream))), fits - needed)

    async def test_message_beyond_the_window_fails_the_call_with_cancel(self):
        message = walk_batch("x" * 1000)
        fits = -(-INITIAL_WINDOW // (12 + len(message)))
        stream = self.client.walk_tree(timeout=WAIT_SECONDS)
        first = asyncio.create_task(bounded(stream.__anext__()))
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        for _ in range(fits + 1):
            await in_thread(peer.send_message, request.call_id, message)
        await self.expect_cancel(peer, request.call_id)
        await first
        for _ in range(fits - 1):
            await bounded(stream.__anext__())
        error = await self.assert_raises_code(StatusCode.RESOURCE_EXHAUSTED, stream.__anext__())
        self.assertIn("flow control window exceeded", error.message)

    async def test_deadline_mid_stream_sends_cancel(self):
        stream = self.client.walk_tree(timeout=0.3)
        first = asyncio.create_task(bounded(stream.__anext__()))
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        await in_thread(peer.send_message, request.call_id, walk_batch("a"))
        self.assertEqual((await first).path, "a")
        await self.assert_raises_code(StatusCode.DEADLINE_EXCEEDED, stream.__anext__())
        await self.expect_cancel(peer, request.call_id)

    async def test_cancel_and_task_cancellation_send_cancel(self):
        for by_task in (False, True):
            with self.subTest(by_task=by_task):
                stream = self.client.echo_stream(AsyncFeeder(), timeout=WAIT_SECONDS)
                reading = asyncio.create_task(stream.__anext__())
                peer = peer if by_task else await self.accept()
                request = await in_thread(peer.next_request)
                if by_task:
                    reading.cancel()
                    with self.assertRaises(asyncio.CancelledError):
                        await reading
                else:
                    self.assertTrue(stream.cancel())
                    await self.assert_raises_code(StatusCode.CANCELLED, reading)
                await self.expect_cancel(peer, request.call_id)

    async def test_cancel_before_the_first_iteration_sends_nothing(self):
        stream = self.client.walk_tree(timeout=WAIT_SECONDS)
        self.assertTrue(stream.cancel())
        self.assertFalse(stream.cancel())
        await self.assert_raises_code(StatusCode.CANCELLED, stream.__anext__())
        self.assertEqual(self.server.connections_accepted, 0)

    async def test_request_over_the_limit_fails_with_cancel(self):
        stream = self.client.echo_stream([b"a", b"x" * dualrpc.DEFAULT_MAX_MESSAGE_BYTES],
                                         timeout=WAIT_SECONDS)
        reading = asyncio.create_task(stream.__anext__())
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        await in_thread(peer.next_message, request.call_id)
        await self.expect_cancel(peer, request.call_id)
        await self.assert_raises_code(StatusCode.RESOURCE_EXHAUSTED, reading)


class AioRawVersionTest(AioRawTestCase):
    server_options = {"server_preface": SERVER_PREFACE_1_0}

    async def test_streaming_on_a_1_0_server_is_unimplemented_and_unary_still_works(self):
        call = asyncio.create_task(self.client.echo(b"a", timeout=WAIT_SECONDS))
        peer = await self.accept()
        request = await in_thread(peer.next_request)
        await in_thread(peer.respond, request.call_id, request.message)
        self.assertEqual(await bounded(call), b"a")
        error = await self.assert_raises_code(StatusCode.UNIMPLEMENTED,
                                              self.client.walk_tree().__anext__())
        self.assertIn("raw protocol 1.0", error.message)
        call = asyncio.create_task(self.client.echo(b"b", timeout=WAIT_SECONDS))
        request = await in_thread(peer.next_request)  # Not a streaming REQUEST.
        self.assertEqual(request.header.method, "/dualrpc.v1.FileService/Echo")
        await in_thread(peer.respond, request.call_id, request.message)
        self.assertEqual(await bounded(call), b"b")


class AioGrpcTest(AioTestCase):
    async def asyncSetUp(self):
        self.server = grpc_test_server.start()
        self.client = dualrpc.aio.connect(self.server.target)

    async def asyncTearDown(self):
        await self.client.close()
        self.server.stop()

    async def test_unary(self):
        self.assertEqual(await bounded(self.client.echo(b"hi", timeout=WAIT_SECONDS)), b"hi")

    async def test_walk_tree_and_trailers(self):
        stream = self.client.walk_tree("docs", timeout=WAIT_SECONDS)
        self.assertEqual([e.path async for e in stream], grpc_test_server.WALK_PATHS)
        self.assertIn(("walk-note", "done"), await stream.trailing_metadata())

    async def test_error_after_some_messages(self):
        stream = self.client.walk_tree(grpc_test_server.FAIL_AFTER_TWO, timeout=WAIT_SECONDS)
        self.assertEqual((await bounded(stream.__anext__())).path, grpc_test_server.WALK_PATHS[0])
        self.assertEqual((await bounded(stream.__anext__())).path, grpc_test_server.WALK_PATHS[1])
        await self.assert_raises_code(StatusCode.NOT_FOUND, stream.__anext__())

    async def test_echo_stream_ping_pong(self):
        feeder = AsyncFeeder()
        stream = self.client.echo_stream(feeder, timeout=WAIT_SECONDS)
        for payload in (b"a", b"", b"ccc"):
            feeder.put(payload)
            self.assertEqual(await bounded(stream.__anext__()), payload)
        feeder.finish()
        with self.assertRaises(StopAsyncIteration):
            await bounded(stream.__anext__())

    async def test_stream_unary(self):
        requests = (dualrpc.EchoRequest(payload=p) for p in (b"x", b"y", b"z"))
        response = await bounded(self.client.stream_unary(JOIN_METHOD, requests,
                                                          dualrpc.EchoResponse,
                                                          timeout=WAIT_SECONDS))
        self.assertEqual(response.payload, b"xyz")

    async def test_deadline_mid_stream(self):
        stream = self.client.walk_tree(grpc_test_server.HANG_AFTER_ONE, timeout=0.3)
        await bounded(stream.__anext__())
        await self.assert_raises_code(StatusCode.DEADLINE_EXCEEDED, stream.__anext__())

    async def test_cancel_reaches_the_server(self):
        stream = self.client.walk_tree(grpc_test_server.HANG_AFTER_ONE, timeout=WAIT_SECONDS)
        await bounded(stream.__anext__())
        self.assertTrue(stream.cancel())
        await self.assert_raises_code(StatusCode.CANCELLED, stream.__anext__())
        self.assertTrue(await in_thread(self.server.service.cancelled.wait, WAIT_SECONDS))

    async def test_request_over_the_limit_is_resource_exhausted(self):
        stream = self.client.echo_stream([b"a", b"x" * dualrpc.DEFAULT_MAX_MESSAGE_BYTES],
                                         timeout=WAIT_SECONDS)
        await self.assert_raises_code(StatusCode.RESOURCE_EXHAUSTED,
                                      self._collect_all(stream))

    @staticmethod
    async def _collect_all(stream):
        return [item async for item in stream]


if __name__ == "__main__":
    unittest.main(argv=_UNITTEST_ARGV)
