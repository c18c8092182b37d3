#!/usr/bin/env python3
"""Multi-address targets (issue 13, D1) and raw client-side balancing (D2)
in the Python client, sync and dualrpc.aio.

Against three real dualrpc-server processes on port 0, each serving a root
that holds one file named after it ("root0", "root1", "root2"), so that a
ListDirectory tells which server answered. Servers are killed (SIGKILL),
drained (SIGTERM) and stopped (SIGSTOP) under a closed-loop load. Protocol
corner cases (GOAWAY's unsent calls, the health check's PING) are checked
against FakeRawServer, deterministically.

    /usr/bin/python3 clients/python/tests/test_balancing.py \
        --server build/bin/dualrpc-server --python-gen build/python [-v]
"""

import asyncio
import collections
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

# Servers are started (forked) while grpcio channels live in this process;
# grpcio's fork handlers would wait for its busy thread pool before each
# fork, forever. The child execs dualrpc-server at once: no gRPC there.
os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_TESTS_DIR))  # The dualrpc package.

from test_args import SERVER_BIN_ENV, configure_from_argv  # pylint: disable=wrong-import-position

if __name__ == "__main__":
    _UNITTEST_ARGV = configure_from_argv()

# pylint: disable=wrong-import-position
import dualrpc
import dualrpc.aio
from dualrpc import StatusCode
from dualrpc import _balancing
from dualrpc._grpc_transport import channel_options
from dualrpc._raw_balancer import BalancedRawTransport
from dualrpc._raw_transport import RawConnection
from dualrpc._target import (DNS_AUTHORITY_UNSUPPORTED, GRPC_LIST_NEEDS_IP_LITERALS,
                             MAX_ADDRESSES, parse_target)
from dualrpc.aio._raw_balancer import AioBalancedRawTransport
from dualrpc.client import Client
import fake_raw_server
from fake_raw_server import PING, FakeRawServer
from server_process import ServerProcess

# Longest any single wait of these tests lasts.
WAIT_SECONDS = 20.0
CALL_TIMEOUT_SECONDS = 5.0
# Closed-loop callers of the kill and drain scenarios.
CALLERS = 8
# Calls every caller makes before a server is disturbed, and after.
CALLS_BEFORE = 5
CALLS_AFTER = 20
# Short health checks and backoff, so that the tests see them in well under a second.
FAST = {"health_check_interval": 0.2, "health_check_timeout": 0.3, "backoff_initial": 0.2,
        "backoff_max": 0.5, "connect_timeout": 1.0}


def eventually(predicate, what, timeout=WAIT_SECONDS):
    """Polls `predicate` until true; fails the test (AssertionError) after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.01)


def refusing_port():
    """(socket, port): a port bound but not listening, so connects are
    refused and nothing else takes it while the socket is open."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


def root_of(response):
    return response.entries[0].name


class SyncDriver:
    """dualrpc.connect(target) and its calls: call() from the test thread,
    or start(callers) threads calling back to back until stop()."""

    name = "sync"

    def __init__(self, target, **options):
        self.client = dualrpc.connect(target, **options)
        self._lock = threading.Lock()
        self.results = []  # Per caller: roots ("root1") and RpcErrors, in order. Guarded.
        self._stop = threading.Event()
        self._workers = []

    def call(self):
        """The root that answered one ListDirectory, or the RpcError."""
        try:
            return root_of(self.client.list_directory(timeout=CALL_TIMEOUT_SECONDS))
        except dualrpc.RpcError as error:
            return error

    def start(self, callers):
        self.results = [[] for _ in range(callers)]
        for caller in range(callers):
            worker = threading.Thread(target=self._work, args=(caller,), daemon=True)
            worker.start()
            self._workers.append(worker)

    def _work(self, caller):
        while not self._stop.is_set():
            result = self.call()
            with self._lock:
                self.results[caller].append(result)

    def counts(self):
        with self._lock:
            return [len(results) for results in self.results]

    def snapshot(self):
        with self._lock:
            return [list(results) for results in self.results]

    def stop(self):
        self._stop.set()
        for worker in self._workers:
            worker.join(WAIT_SECONDS)
        self._workers = []

    def close(self):
        self.stop()
        self.client.close()


class AioDriver(SyncDriver):
    """The same over dualrpc.aio: the client and its callers live on an
    event loop in a thread of its own; the test thread drives it."""

    name = "aio"

    def __init__(self, target, **options):  # pylint: disable=super-init-not-called
        self._lock = threading.Lock()
        self.results = []
        self._tasks = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._stopping = False
        self.client = self._run(self._connect(target, options))

    async def _connect(self, target, options):
        return dualrpc.aio.connect(target, **options)

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(WAIT_SECONDS)

    async def _call(self):
        try:
            return root_of(await self.client.list_directory(timeout=CALL_TIMEOUT_SECONDS))
        except dualrpc.RpcError as error:
            return error

    def call(self):
        return self._run(self._call())

    def start(self, callers):
        self.results = [[] for _ in range(callers)]

        async def start_tasks():
            self._tasks = [asyncio.get_running_loop().create_task(self._work(caller))
                           for caller in range(callers)]

        self._run(start_tasks())

    async def _work(self, caller):  # pylint: disable=invalid-overridden-method
        while not self._stopping:
            result = await self._call()
            with self._lock:
                self.results[caller].append(result)

    def stop(self):
        async def stop_tasks():
            self._stopping = True
            await asyncio.gather(*self._tasks)

        self._run(stop_tasks())

    def close(self):
        self.stop()
        self._run(self.client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT_SECONDS)
        self._loop.close()


DRIVERS = (SyncDriver, AioDriver)


@unittest.skipUnless(os.environ.get(SERVER_BIN_ENV), f"needs --server or ${SERVER_BIN_ENV}")
class ThreeServersTest(unittest.TestCase):
    """Three real servers, fresh for each test (tests kill them)."""

    def setUp(self):
        self.servers = []
        for index in range(3):
            root = tempfile.TemporaryDirectory(prefix=f"dualrpc-py-lb-{index}-")
            self.addCleanup(root.cleanup)
            with open(os.path.join(root.name, f"root{index}"), "w", encoding="utf-8"):
                pass
            server = ServerProcess(os.environ[SERVER_BIN_ENV], root.name)
            server.__enter__()
            self.addCleanup(server.__exit__, None, None, None)
            self.servers.append(server)

    def target(self, transport, scheme=None):
        addresses = ",".join(server.address(transport) for server in self.servers)
        return f"{scheme or transport}://{addresses}"

    def driver(self, driver_class, target, **options):
        driver = driver_class(target, **options)
        self.addCleanup(driver.close)
        return driver

    def assert_round_robin(self, driver, calls=30):
        answered = collections.Counter(driver.call() for _ in range(calls))
        self.assertEqual(answered, {"root0": calls // 3, "root1": calls // 3, "root2": calls // 3})

    def test_raw_list_round_robin_over_three(self):
        for driver_class in DRIVERS:
            with self.subTest(driver=driver_class.name):
                self.assert_round_robin(self.driver(driver_class, self.target("raw")))

    def test_grpc_list_round_robin_over_three(self):
        # grpcio's round_robin spreads calls once every subchannel is READY;
        # the first calls may all go to the first one that connected.
        for driver_class in DRIVERS:
            for target in (self.target("grpc"), self.target("grpc").split("://")[1]):
                with self.subTest(driver=driver_class.name, target=target):
                    driver = self.driver(driver_class, target)
                    eventually(lambda: len(set(driver.call() for _ in range(6))) == 3,
                               f"{target} answered by all three servers")
                    self.assert_round_robin(driver)

    def test_first_address_refusing_every_call_succeeds(self):
        sock, port = refusing_port()
        self.addCleanup(sock.close)
        target = f"raw://127.0.0.1:{port}," + self.target("raw").split("://")[1]
        for driver_class in DRIVERS:
            with self.subTest(driver=driver_class.name):
                driver = self.driver(driver_class, target, **FAST)
                answered = [driver.call() for _ in range(30)]
                self.assertEqual(collections.Counter(answered),
                                 {"root0": 10, "root1": 10, "root2": 10})
                self.assert_ejected(driver, 0)

    def load(self, driver_class, **options):
        """A driver with CALLERS callers that each made CALLS_BEFORE calls."""
        driver = self.driver(driver_class, self.target("raw"), **options)
        driver.start(CALLERS)
        eventually(lambda: min(driver.counts()) >= CALLS_BEFORE, "the load runs")
        return driver

    def run_after(self, driver):
        """Lets every caller make CALLS_AFTER more calls; returns, per caller,
        the results before and after this point, and stops the load."""
        marks = driver.counts()
        eventually(lambda: all(count >= mark + CALLS_AFTER
                               for count, mark in zip(driver.counts(), marks)),
                   f"{CALLS_AFTER} more calls per caller")
        driver.stop()
        results = driver.snapshot()
        return [(r[:mark], r[mark:]) for r, mark in zip(results, marks)]

    def test_sigkill_fails_only_calls_in_flight_on_the_killed_server(self):
        for index, driver_class in enumerate(DRIVERS):
            with self.subTest(driver=driver_class.name):
                if index:
                    self.setUp()
                driver = self.load(driver_class, **FAST)
                self.servers[1].send_signal(signal.SIGKILL)
                self.servers[1].wait(WAIT_SECONDS)
                phases = self.run_after(driver)
                before = [result for early, _ in phases for result in early]
                self.assertIn("root1", before)
                failures = [result for _, late in phases for result in late
                            if isinstance(result, dualrpc.RpcError)]
                # Each caller had at most one call on the killed server's
                # connection when it died; once it is known dead, no call goes there.
                self.assertLessEqual(len(failures), CALLERS, failures)
                for failure in failures:
                    self.assertEqual(failure.code, StatusCode.UNAVAILABLE, failure)
                self.assert_survivors_answer(phases)
                self.assert_ejected(driver, 1)

    def assert_survivors_answer(self, phases):
        """The last calls of every caller went to root0 and root2 only
        (callers share the round-robin, so one caller may see only one)."""
        tails = [late[-CALLS_AFTER // 2:] for _, late in phases]
        for tail in tails:
            self.assertLessEqual(set(tail), {"root0", "root2"}, tail)
        self.assertEqual(set().union(*tails), {"root0", "root2"})

    def assert_ejected(self, driver, index):
        """White box: the balancer holds backend `index` ejected (not just
        avoided by retrying each call elsewhere)."""
        backend = driver.client._transport._set.backends[index]  # pylint: disable=protected-access
        self.assertTrue(backend.ejected, backend)

    def test_sigterm_drain_fails_no_call(self):
        for index, driver_class in enumerate(DRIVERS):
            with self.subTest(driver=driver_class.name):
                if index:
                    self.setUp()
                driver = self.load(driver_class, **FAST)
                self.servers[1].send_signal(signal.SIGTERM)
                self.assertEqual(self.servers[1].wait(WAIT_SECONDS), 0)
                phases = self.run_after(driver)
                results = [result for early, late in phases for result in early + late]
                self.assertEqual([r for r in results if isinstance(r, dualrpc.RpcError)], [])
                self.assertIn("root1", results)
                self.assert_survivors_answer(phases)
                self.assert_ejected(driver, 1)

    def test_sigstop_server_is_ejected_by_the_health_check(self):
        for driver_class in DRIVERS:
            with self.subTest(driver=driver_class.name):
                driver = self.driver(driver_class, self.target("raw"), **FAST)
                self.assert_round_robin(driver, 3)
                self.servers[1].send_signal(signal.SIGSTOP)
                self.addCleanup(self.servers[1].send_signal, signal.SIGCONT)
                # The stopped server's kernel keeps its connection open: only
                # the unanswered PING tells. Until then every third call
                # waits for its deadline (cut short to 1 s here).
                recent = collections.deque(maxlen=12)

                def ejected():
                    recent.append(self._short_call(driver))
                    return len(recent) == recent.maxlen and \
                        all(isinstance(r, str) for r in recent)

                eventually(ejected, "12 calls in a row succeed after SIGSTOP")
                answered = collections.Counter(driver.call() for _ in range(30))
                self.assertEqual(answered, {"root0": 15, "root2": 15})
                self.servers[1].send_signal(signal.SIGCONT)

    @staticmethod
    def _short_call(driver):
        if isinstance(driver, AioDriver):
            async def call():
                try:
                    return root_of(await driver.client.list_directory(timeout=1.0))
                except dualrpc.RpcError as error:
                    return error
            return driver._run(call())  # pylint: disable=protected-access
        try:
            return root_of(driver.client.list_directory(timeout=1.0))
        except dualrpc.RpcError as error:
            return error

    def test_dns_targets_reach_the_server(self):
        # localhost resolves to one address here, so this proves the
        # dns:/// forms go through gRPC's resolver and ours, not balancing
        # (that is test_raw_dns_balances_over_every_address's and grpcio's).
        for driver_class in DRIVERS:
            for transport, scheme in (("grpc", "dns"), ("raw", "raw+dns")):
                port = self.servers[0].address(transport).rpartition(":")[2]
                with self.subTest(driver=driver_class.name, scheme=scheme):
                    driver = self.driver(driver_class, f"{scheme}:///localhost:{port}")
                    self.assertEqual(driver.call(), "root0")


class AllDownTest(unittest.TestCase):
    def test_all_down_is_unavailable_naming_the_ejected(self):
        sockets = [refusing_port() for _ in range(3)]
        for sock, _ in sockets:
            self.addCleanup(sock.close)
        target = "raw://" + ",".join(f"127.0.0.1:{port}" for _, port in sockets)
        for driver_class in DRIVERS:
            with self.subTest(driver=driver_class.name):
                driver = driver_class(target, **FAST)
                self.addCleanup(driver.close)
                for _ in range(2):  # The second finds all ejected at once.
                    error = driver.call()
                    self.assertIsInstance(error, dualrpc.RpcError)
                    self.assertEqual(error.code, StatusCode.UNAVAILABLE)
                    self.assertRegex(error.message,
                                     r"^no raw backend is available \(3 ejected\): "
                                     r"cannot connect to 127\.0\.0\.1:\d+: ")


class FakeServersTest(unittest.TestCase):
    """Two scripted servers behind one raw:// list, sync client."""

    def setUp(self):
        self.fakes = [FakeRawServer(), FakeRawServer()]
        for fake in self.fakes:
            self.addCleanup(fake.close)
        addresses = ",".join(fake.target.split("://")[1] for fake in self.fakes)
        self.client = dualrpc.connect(f"raw://{addresses}", **FAST)
        self.addCleanup(self.client.close)
        self.results = []

    def start_echo(self, payload):
        thread = threading.Thread(
            target=lambda: self.results.append(self._echo(payload)), daemon=True)
        thread.start()
        return thread

    def _echo(self, payload):
        try:
            return self.client.echo(payload, timeout=WAIT_SECONDS)
        except dualrpc.RpcError as error:
            return error

    def test_call_a_goaway_did_not_process_is_sent_to_the_other_backend(self):
        thread = self.start_echo(b"once")
        first = self.fakes[0].accept()
        request = first.next_request()
        first.send_goaway(request.call_id - 1, StatusCode.UNAVAILABLE, "server is shutting down")
        second = self.fakes[1].accept()
        retried = second.next_request()
        self.assertEqual(retried.message, request.message)
        second.respond(retried.call_id, retried.message)
        thread.join(WAIT_SECONDS)
        self.assertEqual(self.results, [b"once"])

    def test_unanswered_ping_closes_the_connection_and_ejects_the_backend(self):
        thread = self.start_echo(b"a")
        first = self.fakes[0].accept()
        request = first.next_request()
        first.respond(request.call_id, request.message)
        thread.join(WAIT_SECONDS)
        # Idle for health_check_interval: a PING, left unanswered.
        frame = first.next_frame()
        self.assertEqual(frame.type, PING)
        self.assertIsNone(first.next_frame())  # Closed by the client.
        # The next calls go to the other backend only (the first is ejected
        # and its reconnect, accepted but never answered, is not picked).
        second_peer = []
        for payload in (b"b", b"c", b"d"):
            thread = self.start_echo(payload)
            if not second_peer:
                second_peer.append(self.fakes[1].accept())
            request = second_peer[0].next_request()
            second_peer[0].respond(request.call_id, request.message)
            thread.join(WAIT_SECONDS)
        self.assertEqual(self.results, [b"a", b"b", b"c", b"d"])


def _recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


class _GatedSocket:
    """A socket whose writer can be held inside one sendall (the one after
    hold_next_send is set), which then fails once fail_held_send is set."""

    def __init__(self, sock):
        self._sock = sock
        self.hold_next_send = threading.Event()
        self.holding = threading.Event()
        self.fail_held_send = threading.Event()

    def sendall(self, data):
        if self.hold_next_send.is_set() and not self.holding.is_set():
            self.holding.set()
            self.fail_held_send.wait(WAIT_SECONDS)
            raise BrokenPipeError(32, "Broken pipe")
        return self._sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


class UnsentCallTest(unittest.TestCase):
    """Calls that never left the client are sent to another backend."""

    def test_a_request_never_written_is_unsent_and_one_being_written_is_not(self):
        # The writer is held inside the send of call 1's REQUEST while call 2
        # queues behind it; then that send fails (the peer is gone).
        client_end, server_end = socket.socketpair()
        self.addCleanup(server_end.close)
        gated = _GatedSocket(client_end)
        connection = RawConnection(gated, 1 << 20, "gated")
        self.addCleanup(connection.close)
        server_end.sendall(fake_raw_server.SERVER_PREFACE)
        self.assertEqual(_recv_exactly(server_end, 8), b"DRPC\x01\x01\x00\x00")
        gated.hold_next_send.set()
        _, first = connection.start_call("/dualrpc.v1.FileService/Echo", b"1", None, ())
        self.assertTrue(gated.holding.wait(WAIT_SECONDS))
        _, second = connection.start_call("/dualrpc.v1.FileService/Echo", b"2", None, ())
        gated.fail_held_send.set()
        self.assertTrue(first.wait(WAIT_SECONDS) and second.wait(WAIT_SECONDS))
        self.assertEqual((first.outcome.code, first.outcome.unsent),
                         (StatusCode.UNAVAILABLE, False))  # Partly sent, perhaps run: final.
        self.assertEqual((second.outcome.code, second.outcome.unsent),
                         (StatusCode.UNAVAILABLE, True))  # Never left: the balancer retries it.

    def test_aio_call_a_goaway_did_not_process_is_sent_to_the_other_backend(self):
        fakes = [FakeRawServer(), FakeRawServer()]
        for fake in fakes:
            self.addCleanup(fake.close)
        target = "raw://" + ",".join(fake.target.split("://")[1] for fake in fakes)

        async def scenario():
            loop = asyncio.get_running_loop()
            async with dualrpc.aio.connect(target, **FAST) as client:
                call = loop.create_task(client.echo(b"once", timeout=WAIT_SECONDS))
                first = await loop.run_in_executor(None, fakes[0].accept)
                request = await loop.run_in_executor(None, first.next_request)
                first.send_goaway(request.call_id - 1, StatusCode.UNAVAILABLE,
                                  "server is shutting down")
                second = await loop.run_in_executor(None, fakes[1].accept)
                retried = await loop.run_in_executor(None, second.next_request)
                self.assertEqual(retried.message, request.message)
                second.respond(retried.call_id, retried.message)
                return await asyncio.wait_for(call, WAIT_SECONDS)

        self.assertEqual(asyncio.run(scenario()), b"once")


class RawDnsTest(unittest.TestCase):
    """raw+dns:/// with a resolver the test controls (the transport's hook):
    every address is a backend, and a new answer replaces the old."""

    def setUp(self):
        self.fakes = [FakeRawServer() for _ in range(3)]
        for fake in self.fakes:
            self.addCleanup(fake.close)
        self.ports = [int(fake.target.rpartition(":")[2]) for fake in self.fakes]
        self.answer = [("127.0.0.1", self.ports[0]), ("127.0.0.1", self.ports[1])]
        self.lookups = []

    def resolver(self, name, port):
        self.lookups.append((name, port))
        return list(self.answer)

    def test_resolved_addresses_are_backends_and_refreshed(self):
        target = parse_target("raw+dns:///backends.test:7")
        options = _balancing.BalancingOptions(dns_refresh_interval=0.2)
        transport = BalancedRawTransport(target, 1 << 20, 1.0, None, options, self.resolver)
        client = Client("raw+dns:///backends.test:7", transport, 1 << 20)
        self.addCleanup(client.close)

        def echo_on(fake_index, payload):
            result = []
            thread = threading.Thread(target=lambda: result.append(
                client.echo(payload, timeout=WAIT_SECONDS)), daemon=True)
            thread.start()
            peer = peers.get(fake_index) or peers.setdefault(fake_index,
                                                             self.fakes[fake_index].accept())
            request = peer.next_request()
            peer.respond(request.call_id, request.message)
            thread.join(WAIT_SECONDS)
            self.assertEqual(result, [payload])

        peers = {}
        echo_on(0, b"a")
        echo_on(1, b"b")
        echo_on(0, b"c")
        self.assertEqual(self.lookups[0], ("backends.test", 7))
        self.answer = [("127.0.0.1", self.ports[2])]
        count = len(self.lookups)
        eventually(lambda: len(self.lookups) > count, "re-resolved after 0.2 s")
        echo_on(2, b"d")
        echo_on(2, b"e")

    def test_aio_resolver_answers_are_backends(self):
        async def resolver(name, port):
            return self.resolver(name, port)

        async def scenario():
            target = parse_target("raw+dns:///backends.test:7")
            transport = AioBalancedRawTransport(target, 1 << 20, 1.0, None,
                                                _balancing.BalancingOptions(), resolver)
            loop = asyncio.get_running_loop()
            calls = [loop.create_task(transport.unary_call(
                "/dualrpc.v1.FileService/Echo", b"", WAIT_SECONDS, ())) for _ in range(2)]
            peers = [await loop.run_in_executor(None, self.fakes[i].accept) for i in (0, 1)]
            for peer in peers:
                request = await loop.run_in_executor(None, peer.next_request)
                peer.respond(request.call_id, b"")
            self.assertEqual(await asyncio.wait_for(asyncio.gather(*calls), WAIT_SECONDS),
                             [b"", b""])
            await transport.close()

        asyncio.run(scenario())
        self.assertEqual(self.lookups, [("backends.test", 7)])


class TargetTableTest(unittest.TestCase):
    def test_every_d1_form(self):
        # text: (transport, tls, dns, addresses, what grpcio is given)
        cases = {
            "h:1": ("grpc", False, False, (("h", 1),), "h:1"),
            "127.0.0.1:1,127.0.0.2:2": ("grpc", False, False,
                                        (("127.0.0.1", 1), ("127.0.0.2", 2)),
                                        "ipv4:127.0.0.1:1,127.0.0.2:2"),
            "grpc://[::1]:1,[::2]:2": ("grpc", False, False, (("[::1]", 1), ("[::2]", 2)),
                                       "ipv6:[::1]:1,[::2]:2"),
            "grpcs://10.0.0.1:1,10.0.0.1:1": ("grpc", True, False,
                                              (("10.0.0.1", 1), ("10.0.0.1", 1)),
                                              "ipv4:10.0.0.1:1,10.0.0.1:1"),
            "raw://a:1,b:2,[::1]:3": ("raw", False, False, (("a", 1), ("b", 2), ("[::1]", 3)),
                                      None),
            "raws://a:1,a:1": ("raw", True, False, (("a", 1), ("a", 1)), None),
            "dns:///svc.example:50051": ("grpc", False, True, (("svc.example", 50051),),
                                         "dns:///svc.example:50051"),
            "grpcs+dns:///svc:1": ("grpc", True, True, (("svc", 1),), "dns:///svc:1"),
            "raw+dns:///svc:2": ("raw", False, True, (("svc", 2),), None),
            "raws+dns:///svc:3": ("raw", True, True, (("svc", 3),), None),
            "raw://h:4": ("raw", False, False, (("h", 4),), None),
        }
        for text, (transport, tls, dns, addresses, grpc_target) in cases.items():
            with self.subTest(target=text):
                target = parse_target(text)
                self.assertEqual((target.scheme, target.tls, target.dns, target.addresses),
                                 (transport, tls, dns, addresses))
                self.assertEqual(target.balanced, dns or len(addresses) > 1)
                self.assertEqual((target.host, target.port), addresses[0])
                if grpc_target:
                    self.assertEqual(target.grpc_target, grpc_target)

    def test_bad_forms_say_why(self):
        cases = {
            "raw://a:1,,b:2": "empty address",
            "a:1,": "empty address",
            "raw://a:1,b": "no port",
            "grpc://a:1,b:2": GRPC_LIST_NEEDS_IP_LITERALS,
            "127.0.0.1:1,[::1]:2": GRPC_LIST_NEEDS_IP_LITERALS,
            "grpcs://h:1,10.0.0.1:2": GRPC_LIST_NEEDS_IP_LITERALS,
            "dns://8.8.8.8/x:1": DNS_AUTHORITY_UNSUPPORTED,
            "raw+dns://ns/x:1": DNS_AUTHORITY_UNSUPPORTED,
            "dns:///a:1,b:2": "one NAME:PORT",
            "dns:///x": "no port",
            "grpc+dns:///x:1": "unsupported scheme",
            "raw://" + ",".join(["a:1"] * (MAX_ADDRESSES + 1)): f"more than {MAX_ADDRESSES}",
        }
        for text, words in cases.items():
            with self.subTest(target=text[:40]):
                with self.assertRaisesRegex(ValueError, words):
                    dualrpc.connect(text)
                with self.assertRaisesRegex(ValueError, words):
                    dualrpc.aio.connect(text)
        parse_target("raw://" + ",".join(["a:1"] * MAX_ADDRESSES))  # The limit itself is fine.

    def test_grpc_balanced_targets_use_round_robin(self):
        for text, balanced in (("127.0.0.1:1,127.0.0.1:2", True), ("dns:///h:1", True),
                               ("h:1", False), ("grpc://10.0.0.1:1", False)):
            with self.subTest(target=text):
                options = dict(channel_options(parse_target(text), 100))
                self.assertEqual(options.get("grpc.lb_policy_name"),
                                 "round_robin" if balanced else None)
                config = options.get("grpc.service_config")
                self.assertEqual(config is not None, balanced)
                if balanced:
                    self.assertEqual(json.loads(config)["healthCheckConfig"],
                                     {"serviceName": ""})

    def test_bad_balancing_options_are_rejected(self):
        for options in ({"health_check_interval": 0}, {"health_check_timeout": -1},
                        {"backoff_multiplier": 0.5}, {"backoff_jitter": 1.0},
                        {"backoff_initial": 2.0, "backoff_max": 1.0}):
            with self.subTest(options=options), self.assertRaises(ValueError):
                dualrpc.connect("raw://a:1,b:2", **options)


class BackoffTest(unittest.TestCase):
    def test_grpc_connection_backoff_parameters(self):
        options = _balancing.BalancingOptions()
        middle = _balancing.Backoff(options, uniform=lambda: 0.5)  # No jitter.
        delays = [middle.next_delay() for _ in range(13)]
        self.assertAlmostEqual(delays[0], 1.0)
        self.assertAlmostEqual(delays[1], 1.6)
        self.assertAlmostEqual(delays[2], 2.56)
        self.assertEqual(delays[-1], 120.0)  # 1.6 ** 11 > 120: capped.
        middle.reset()
        self.assertAlmostEqual(middle.next_delay(), 1.0)
        low = _balancing.Backoff(options, uniform=lambda: 0.0)
        high = _balancing.Backoff(options, uniform=lambda: 0.9999999)
        self.assertAlmostEqual(low.next_delay(), 0.8)
        self.assertAlmostEqual(high.next_delay(), 1.2, places=5)


if __name__ == "__main__":
    unittest.main(argv=_UNITTEST_ARGV)
