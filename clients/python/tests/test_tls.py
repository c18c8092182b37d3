#!/usr/bin/env python3
"""TLS (grpcs://, raws://) and channel-wide credentials (token=, metadata=)
of the sync and the asyncio client, on both transports.

TLS endpoints come from a backend, chosen by --tls-backend (or
$DUALRPC_TLS_BACKEND):
  relay   (default) tls_relay.TlsRelay, a TLS-terminating relay made here,
          in front of a plaintext dualrpc-server;
  server  dualrpc-server itself with --tls_cert/--tls_key[/--tls_client_ca]
          (issue 11's server side): the same tests, unchanged.
Certificates come from tests/testing/make_test_certs.sh. Credentials are
checked where the metadata arrives: FakeRawServer and the grpcio test
server record it, in plaintext and through the relay; and a real
dualrpc-server --auth_tokens checks token= (RealServerTokenTest).

    /usr/bin/python3 clients/python/tests/test_tls.py --server build/bin/dualrpc-server \
        --python-gen build/python [--tls-backend relay|server] [-v]
"""

import argparse
import asyncio
import concurrent.futures
import os
import socket
import sys
import tempfile
import time
import unittest

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_TESTS_DIR))  # The dualrpc package.

from test_args import SERVER_BIN_ENV, configure_from_argv  # pylint: disable=wrong-import-position

TLS_BACKEND_ENV = "DUALRPC_TLS_BACKEND"
if __name__ == "__main__":
    _ARGV = configure_from_argv()
    _PARSER = argparse.ArgumentParser(add_help=False)
    _PARSER.add_argument("--tls-backend", choices=("relay", "server"))
    _ARGS, _UNITTEST_ARGV = _PARSER.parse_known_args(_ARGV[1:])
    if _ARGS.tls_backend:
        os.environ[TLS_BACKEND_ENV] = _ARGS.tls_backend
    _UNITTEST_ARGV = [_ARGV[0]] + _UNITTEST_ARGV

# pylint: disable=wrong-import-position
import dualrpc
import dualrpc.aio
from dualrpc import StatusCode
import fake_raw_server
from fake_raw_server import FakeRawServer
import grpc_test_server
from server_process import ServerProcess
import tls_relay

WAIT_SECONDS = fake_raw_server.WAIT_SECONDS
ALPN = {"raw": "dualrpc/1", "grpc": "h2"}
TRANSPORTS = ("raw", "grpc")
# What run() gets back from the server's tree (see _make_root).
EXPECTED = (b"hi", ["a.txt"], [b"one", b"two"])
TOKEN = "s3cret-token"


def _make_root(directory):
    with open(os.path.join(directory, "a.txt"), "w", encoding="utf-8") as file:
        file.write("a")
    return directory


def _port(address):
    return int(address.rsplit(":", 1)[1])


def run_sync(target, **options):
    """Echo, WalkTree (server streaming) and EchoStream (bidi) on a new client."""
    with dualrpc.connect(target, **options) as client:
        return (client.echo(b"hi", timeout=WAIT_SECONDS),
                [entry.path for entry in client.walk_tree(timeout=WAIT_SECONDS)],
                list(client.echo_stream([b"one", b"two"], timeout=WAIT_SECONDS)))


async def _run_aio(target, **options):
    async with dualrpc.aio.connect(target, **options) as client:
        echo = await client.echo(b"hi", timeout=WAIT_SECONDS)
        paths = [entry.path async for entry in client.walk_tree(timeout=WAIT_SECONDS)]
        echoes = [p async for p in client.echo_stream([b"one", b"two"], timeout=WAIT_SECONDS)]
        return echo, paths, echoes


def run_aio(target, **options):
    """run_sync's calls through dualrpc.aio, on a loop of their own."""
    return asyncio.run(_run_aio(target, **options))


APIS = {"sync": run_sync, "aio": run_aio}
# (api name, run, transport): every combination, each test's subtests.
CASES = [(api, run, transport) for api, run in APIS.items() for transport in TRANSPORTS]


class RelayBackend:
    """TLS endpoints as relays in front of one plaintext dualrpc-server."""

    records_handshakes = True

    def __init__(self, server_binary, root, certs):
        self._certs = certs
        self._server = ServerProcess(server_binary, root).__enter__()
        self._relays = {}

    def plaintext(self, transport):
        return self._server.address(transport)

    def endpoint(self, transport, cert_name="server", mtls=False):
        """HOST:PORT serving `transport` over TLS with `cert_name`'s
        certificate; with mtls, client certificates signed by ca.pem required."""
        return f"127.0.0.1:{self.relay(transport, cert_name, mtls).port}"

    def relay(self, transport, cert_name="server", mtls=False):
        key = (transport, cert_name, mtls)
        if key not in self._relays:
            self._relays[key] = tls_relay.TlsRelay(
                self._certs, _port(self._server.address(transport)), ALPN[transport],
                cert_name, os.path.join(self._certs, "ca.pem") if mtls else None)
        return self._relays[key]

    def close(self):
        for relay in self._relays.values():
            relay.close()
        self._server.__exit__(None, None, None)


class ServerBackend:
    """TLS endpoints as dualrpc-servers started with --tls_cert (one per
    certificate and mTLS setting), plaintext ones from a server without."""

    records_handshakes = False

    def __init__(self, server_binary, root, certs):
        self._binary, self._root, self._certs = server_binary, root, certs
        self._plaintext = ServerProcess(server_binary, root).__enter__()
        self._servers = {}

    def plaintext(self, transport):
        return self._plaintext.address(transport)

    def endpoint(self, transport, cert_name="server", mtls=False):
        key = (cert_name, mtls)
        if key not in self._servers:
            flags = [f"--tls_cert={os.path.join(self._certs, cert_name + '.pem')}",
                     f"--tls_key={os.path.join(self._certs, cert_name + '.key')}"]
            if mtls:
                flags.append(f"--tls_client_ca={os.path.join(self._certs, 'ca.pem')}")
            self._servers[key] = ServerProcess(self._binary, self._root, flags).__enter__()
        return self._servers[key].address(transport)

    def close(self):
        for server in list(self._servers.values()) + [self._plaintext]:
            server.__exit__(None, None, None)


BACKENDS = {"relay": RelayBackend, "server": ServerBackend}


class TlsTestCase(unittest.TestCase):
    """One backend, certificates and served tree for the whole class."""

    @classmethod
    def setUpClass(cls):
        cls._temp = tempfile.TemporaryDirectory(prefix="dualrpc-py-tls-")
        cls.certs = tls_relay.make_certs(os.path.join(cls._temp.name, "certs"))
        root = os.path.join(cls._temp.name, "root")
        os.mkdir(root)
        backend_class = BACKENDS[os.environ.get(TLS_BACKEND_ENV, "relay")]
        cls.backend = backend_class(os.environ[SERVER_BIN_ENV], _make_root(root), cls.certs)

    @classmethod
    def tearDownClass(cls):
        cls.backend.close()
        cls._temp.cleanup()

    def cert(self, name):
        return os.path.join(self.certs, name)

    def assert_unavailable(self, run, target, words, **options):
        """`run` fails with UNAVAILABLE saying `words`, well before its deadline."""
        started = time.monotonic()
        with self.assertRaises(dualrpc.RpcError) as raised:
            run(target, **options)
        self.assertEqual(raised.exception.code, StatusCode.UNAVAILABLE, raised.exception)
        self.assertIn(words, raised.exception.message)
        self.assertLess(time.monotonic() - started, WAIT_SECONDS / 2, "a hang, not a failure")



class TlsCallsTest(TlsTestCase):
    def test_every_call_kind_over_tls(self):
        for api, run, transport in CASES:
            with self.subTest(api=api, transport=transport):
                address = self.backend.endpoint(transport)
                self.assertEqual(run(f"{transport}s://{address}", ca_file=self.cert("ca.pem")),
                                 EXPECTED)
                if self.backend.records_handshakes:
                    handshake = self.backend.relay(transport).handshakes[-1]
                    self.assertEqual(handshake.alpn, ALPN[transport])

    def test_a_host_name_is_sent_as_sni_and_checked(self):
        for api, run, transport in CASES:
            with self.subTest(api=api, transport=transport):
                port = _port(self.backend.endpoint(transport))
                self.assertEqual(run(f"{transport}s://localhost:{port}",
                                     ca_file=self.cert("ca.pem")), EXPECTED)
                if self.backend.records_handshakes:
                    self.assertEqual(self.backend.relay(transport).handshakes[-1].sni, "localhost")

    def test_server_name_overrides_the_host_for_sni_and_the_check(self):
        for api, run, transport in CASES:
            with self.subTest(api=api, transport=transport):
                address = self.backend.endpoint(transport, "otherhost")
                self.assertEqual(run(f"{transport}s://{address}", ca_file=self.cert("ca.pem"),
                                     server_name="other.example"), EXPECTED)
                if self.backend.records_handshakes:
                    self.assertEqual(self.backend.relay(transport, "otherhost").handshakes[-1].sni,
                                     "other.example")

    def test_mtls_accepts_the_client_certificate(self):
        for api, run, transport in CASES:
            with self.subTest(api=api, transport=transport):
                address = self.backend.endpoint(transport, mtls=True)
                self.assertEqual(run(f"{transport}s://{address}", ca_file=self.cert("ca.pem"),
                                     cert_file=self.cert("client.pem"),
                                     key_file=self.cert("client.key")), EXPECTED)
                if self.backend.records_handshakes:
                    subject = self.backend.relay(transport, mtls=True).handshakes[-1].client_subject
                    self.assertIn((("commonName", "alice"),), subject)

    def test_mtls_refuses_a_client_without_certificate(self):
        for api, run, transport in CASES:
            with self.subTest(api=api, transport=transport):
                address = self.backend.endpoint(transport, mtls=True)
                self.assert_unavailable(run, f"{transport}s://{address}",
                                        "client certificate required", ca_file=self.cert("ca.pem"))


    def test_threads_share_one_tls_connection_both_ways_at_once(self):
        """Sync raws://: the reader and the writer thread use one TLS session
        at once (TlsSocket's lock), with large messages both ways."""
        address = self.backend.endpoint("raw")
        before = len(self.backend.relay("raw").handshakes) if self.backend.records_handshakes \
            else 0
        payloads = [bytes([n]) * (96 * 1024 + n) for n in range(8)]
        with dualrpc.connect(f"raws://{address}", ca_file=self.cert("ca.pem")) as client:
            def echoes(payload):
                return [client.echo(payload, timeout=WAIT_SECONDS) for _ in range(8)]

            def stream(payload):
                return list(client.echo_stream([payload] * 16, timeout=WAIT_SECONDS))

            with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
                unary = [pool.submit(echoes, p) for p in payloads]
                bidi = [pool.submit(stream, p[:32 * 1024]) for p in payloads]
                for payload, future in zip(payloads, unary):
                    self.assertEqual(future.result(WAIT_SECONDS), [payload] * 8)
                for payload, future in zip(payloads, bidi):
                    self.assertEqual(future.result(WAIT_SECONDS), [payload[:32 * 1024]] * 16)
        if self.backend.records_handshakes:
            self.assertEqual(len(self.backend.relay("raw").handshakes), before + 1)


class TlsFailureTest(TlsTestCase):
    def test_bad_server_certificates_say_which(self):
        words = {
            "untrusted": "TLS handshake failed: server certificate is not trusted",
            "expired": "TLS handshake failed: server certificate has expired",
            "otherhost": 'TLS handshake failed: server certificate does not match host '
                         '"127.0.0.1"',
        }
        for cert_name, expected in words.items():
            for api, run, transport in CASES:
                with self.subTest(cert=cert_name, api=api, transport=transport):
                    address = self.backend.endpoint(transport, cert_name)
                    self.assert_unavailable(run, f"{transport}s://{address}", expected,
                                            ca_file=self.cert("ca.pem"))

    def test_the_system_trust_store_does_not_trust_the_test_ca(self):
        for api, run, transport in CASES:
            with self.subTest(api=api, transport=transport):
                address = self.backend.endpoint(transport)
                self.assert_unavailable(run, f"{transport}s://{address}",
                                        "server certificate is not trusted")

    def test_insecure_skips_verification_on_raw(self):
        for api, run in APIS.items():
            with self.subTest(api=api):
                address = self.backend.endpoint("raw", "untrusted")
                self.assertEqual(run(f"raws://{address}", insecure=True), EXPECTED)

    def test_insecure_is_refused_on_grpc(self):
        for connect in (dualrpc.connect, dualrpc.aio.connect):
            with self.subTest(connect=connect.__module__), \
                    self.assertRaisesRegex(ValueError, "grpcio cannot skip"):
                connect(f"grpcs://{self.backend.endpoint('grpc')}", insecure=True)

    def test_tls_client_on_a_plaintext_port(self):
        for api, run, transport in CASES:
            with self.subTest(api=api, transport=transport):
                self.assert_unavailable(run, f"{transport}s://{self.backend.plaintext(transport)}",
                                        "a plaintext port?", ca_file=self.cert("ca.pem"))

    def test_plaintext_client_on_a_tls_port(self):
        for api, run, transport in CASES:
            with self.subTest(api=api, transport=transport):
                self.assert_unavailable(run, f"{transport}://{self.backend.endpoint(transport)}",
                                        "a TLS port?")


class HandshakeTimeoutTest(unittest.TestCase):
    """A TLS port that never answers (a listener nobody accepts from: the
    kernel completes the TCP handshake, nothing else comes)."""

    def setUp(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(self.listener.close)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"

    def assert_fails(self, run, target, code, words, **options):
        with self.assertRaises(dualrpc.RpcError) as raised:
            run(target, **options)
        self.assertEqual(raised.exception.code, code, raised.exception)
        self.assertIn(words, raised.exception.message)

    def test_the_deadline_bounds_the_handshake(self):
        for api, connect in (("sync", dualrpc.connect), ("aio", dualrpc.aio.connect)):
            with self.subTest(api=api):
                self.assert_fails(_echo_with(connect, timeout=0.3), f"raws://{self.address}",
                                  StatusCode.DEADLINE_EXCEEDED, "TLS handshake", insecure=True)

    def test_connect_timeout_bounds_the_handshake(self):
        for api, connect in (("sync", dualrpc.connect), ("aio", dualrpc.aio.connect)):
            with self.subTest(api=api):
                self.assert_fails(_echo_with(connect, timeout=WAIT_SECONDS),
                                  f"raws://{self.address}", StatusCode.UNAVAILABLE,
                                  "timed out", insecure=True, connect_timeout=0.3)


def _echo_with(connect, timeout):
    """run(target, **options): one echo on a new client of `connect`."""
    def run(target, **options):
        client = connect(target, **options)
        if connect is dualrpc.connect:
            with client:
                return client.echo(b"x", timeout=timeout)

        async def echo():
            async with client:
                return await client.echo(b"x", timeout=timeout)

        return asyncio.run(echo())

    return run


class TlsAnswerToPlaintextTest(unittest.TestCase):
    """A server that answers raw://'s preface with a TLS alert record (what
    an OpenSSL server may send a plaintext client) is named as TLS."""

    def test_a_tls_alert_instead_of_the_preface_says_tls(self):
        alert = b"\x15\x03\x03\x00\x02\x02\x46"  # An alert record: fatal, protocol_version.
        for api, connect in (("sync", dualrpc.connect), ("aio", dualrpc.aio.connect)):
            with self.subTest(api=api):
                server = FakeRawServer(server_preface=alert)
                self.addCleanup(server.close)
                run = _echo_with(connect, timeout=WAIT_SECONDS)
                with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                    call = pool.submit(run, server.target)
                    peer = server.accept()
                    peer.next_frame()  # The REQUEST: read after the alert went.
                    peer.close()
                    with self.assertRaises(dualrpc.RpcError) as raised:
                        call.result(WAIT_SECONDS)
                self.assertEqual(raised.exception.code, StatusCode.UNAVAILABLE)
                self.assertIn("the server answered with TLS", raised.exception.message)
                self.assertIn("use raws://", raised.exception.message)


class OptionsTest(unittest.TestCase):
    def test_bad_options_are_refused_at_connect(self):
        cases = [
            ("raw://127.0.0.1:1", {"ca_file": "ca.pem"}, "plaintext target"),
            ("grpc://127.0.0.1:1", {"insecure": True}, "plaintext target"),
            ("raws://127.0.0.1:1", {"cert_file": "client.pem"}, "give both or neither"),
            ("raws://127.0.0.1:1", {"ca_file": "/nonexistent/ca.pem"}, "nonexistent"),
            ("grpcs://127.0.0.1:1", {"ca_file": "/nonexistent/ca.pem"}, "nonexistent"),
            ("raws://127.0.0.1:1", {"server_name": ""}, "server_name"),
            ("raw://127.0.0.1:1", {"token": ""}, "token"),
            ("raw://127.0.0.1:1", {"token": "two words"}, "token"),
            ("raw://127.0.0.1:1", {"metadata": {"Bad-Key": "x"}}, "metadata key"),
        ]
        for connect in (dualrpc.connect, dualrpc.aio.connect):
            for target, options, words in cases:
                with self.subTest(connect=connect.__module__, target=target, options=options), \
                        self.assertRaisesRegex(ValueError, words):
                    connect(target, **options)

    def test_tls_targets_parse(self):
        from dualrpc._target import parse_target  # pylint: disable=import-outside-toplevel
        for text, (scheme, tls) in {"grpcs://h:1": ("grpc", True), "raws://[::1]:2": ("raw", True),
                                    "raw://h:3": ("raw", False)}.items():
            with self.subTest(target=text):
                target = parse_target(text)
                self.assertEqual((target.scheme, target.tls), (scheme, tls))


def _metadata_of(header):
    return [(entry.key, entry.value.decode()) for entry in header.metadata]


class RawCredentialsTest(unittest.TestCase):
    """token= and metadata= as FakeRawServer receives them, plaintext and over TLS."""

    def setUp(self):
        self.server = FakeRawServer()
        self.addCleanup(self.server.close)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        self.addCleanup(self.pool.shutdown)
        self.certs = tls_relay.make_certs(tempfile.mkdtemp(prefix="dualrpc-py-certs-"))
        self.relay = tls_relay.TlsRelay(self.certs, _port(self.server.target), "dualrpc/1")
        self.addCleanup(self.relay.close)

    def targets(self):
        yield self.server.target, {}
        yield f"raws://127.0.0.1:{self.relay.port}", {
            "ca_file": os.path.join(self.certs, "ca.pem")}

    def _answer_echo(self, peer):
        request = peer.next_request()
        peer.respond(request.call_id, dualrpc.EchoResponse(payload=b"ok").SerializeToString())
        return _metadata_of(request.header)

    def _answer_walk(self, peer):
        request = peer.next_request()
        peer.respond(request.call_id)  # OK, no entries.
        return _metadata_of(request.header)

    def test_token_and_default_metadata_go_with_every_call(self):
        def calls(target, options):
            with dualrpc.connect(target, token=TOKEN, metadata=[("x-team", "blue")],
                                 **options) as client:
                client.echo(b"x", timeout=WAIT_SECONDS)
                list(client.walk_tree(timeout=WAIT_SECONDS))
                client.echo(b"x", timeout=WAIT_SECONDS,
                            metadata={"authorization": "Bearer per-call", "x-call": "1"})

        async def aio_calls(target, options):
            async with dualrpc.aio.connect(target, token=TOKEN, metadata=[("x-team", "blue")],
                                           **options) as client:
                await client.echo(b"x", timeout=WAIT_SECONDS)
                _ = [entry async for entry in client.walk_tree(timeout=WAIT_SECONDS)]
                await client.echo(b"x", timeout=WAIT_SECONDS,
                                  metadata={"authorization": "Bearer per-call", "x-call": "1"})

        channel_wide = [("x-team", "blue"), ("authorization", f"Bearer {TOKEN}")]
        for api, run in (("sync", calls), ("aio", lambda *a: asyncio.run(aio_calls(*a)))):
            for target, options in self.targets():
                with self.subTest(api=api, target=target):
                    done = self.pool.submit(run, target, options)
                    peer = self.server.accept()
                    self.assertEqual(self._answer_echo(peer), channel_wide)
                    self.assertEqual(self._answer_walk(peer), channel_wide)
                    # The call's own authorization replaces the channel's.
                    self.assertEqual(self._answer_echo(peer), [
                        ("x-team", "blue"), ("authorization", "Bearer per-call"),
                        ("x-call", "1")])
                    done.result(WAIT_SECONDS)


class GrpcCredentialsTest(unittest.TestCase):
    """token= and metadata= as the grpcio test server receives them,
    plaintext and through the relay (ALPN h2)."""

    def setUp(self):
        self.server = grpc_test_server.start()
        self.addCleanup(self.server.stop)
        self.certs = tls_relay.make_certs(tempfile.mkdtemp(prefix="dualrpc-py-certs-"))
        self.relay = tls_relay.TlsRelay(self.certs, self.server.port, "h2")
        self.addCleanup(self.relay.close)

    def test_token_and_default_metadata_go_with_every_call(self):
        targets = [(self.server.target, {}),
                   (f"grpcs://127.0.0.1:{self.relay.port}",
                    {"ca_file": os.path.join(self.certs, "ca.pem")})]
        for target, options in targets:
            for api in APIS:
                with self.subTest(api=api, target=target):
                    seen = self._calls(api, target, token=TOKEN, metadata={"x-team": "blue"},
                                       **options)
                    for metadata in seen[:2]:  # Unary, then server streaming.
                        self.assertEqual(metadata.get("authorization"), f"Bearer {TOKEN}")
                        self.assertEqual(metadata.get("x-team"), "blue")
                    self.assertEqual(seen[2].get("authorization"), "Bearer per-call")

    def _calls(self, api, target, **options):
        """The metadata the server saw for: echo, walk_tree, and an echo
        whose own authorization entry replaces the channel's."""
        service = self.server.service
        per_call = {"authorization": "Bearer per-call"}
        seen = []
        if api == "sync":
            with dualrpc.connect(target, **options) as client:
                client.echo(b"x", timeout=WAIT_SECONDS)
                seen.append(service.last_metadata)
                list(client.walk_tree(timeout=WAIT_SECONDS))
                seen.append(service.last_metadata)
                client.echo(b"x", timeout=WAIT_SECONDS, metadata=per_call)
                seen.append(service.last_metadata)
            return seen

        async def calls():
            async with dualrpc.aio.connect(target, **options) as client:
                await client.echo(b"x", timeout=WAIT_SECONDS)
                seen.append(service.last_metadata)
                _ = [entry async for entry in client.walk_tree(timeout=WAIT_SECONDS)]
                seen.append(service.last_metadata)
                await client.echo(b"x", timeout=WAIT_SECONDS, metadata=per_call)
                seen.append(service.last_metadata)

        asyncio.run(calls())
        return seen


class RealServerTokenTest(unittest.TestCase):
    """token= against a real dualrpc-server --auth_tokens (it checks the
    token, not a fake), plaintext and with the server's own TLS: the right
    token is served on every call kind, a wrong one is UNAUTHENTICATED."""

    @classmethod
    def setUpClass(cls):
        cls._temp = tempfile.TemporaryDirectory(prefix="dualrpc-py-tokens-")
        certs = tls_relay.make_certs(os.path.join(cls._temp.name, "certs"))
        cls.ca_file = os.path.join(certs, "ca.pem")
        root = os.path.join(cls._temp.name, "root")
        os.mkdir(root)
        _make_root(root)
        tokens = os.path.join(cls._temp.name, "tokens")
        with open(tokens, "w", encoding="utf-8") as file:
            file.write("# test\nright-secret alice\n")
        flags = [f"--auth_tokens={tokens}"]
        tls_flags = [f"--tls_cert={os.path.join(certs, 'server.pem')}",
                     f"--tls_key={os.path.join(certs, 'server.key')}"]
        binary = os.environ[SERVER_BIN_ENV]
        cls.servers = {False: ServerProcess(binary, root, flags).__enter__(),
                       True: ServerProcess(binary, root, flags + tls_flags).__enter__()}

    @classmethod
    def tearDownClass(cls):
        for server in cls.servers.values():
            server.__exit__(None, None, None)
        cls._temp.cleanup()

    def test_right_token_is_served_and_a_wrong_one_is_unauthenticated(self):
        for secure in (False, True):
            for api, run, transport in CASES:
                with self.subTest(api=api, transport=transport, secure=secure):
                    address = self.servers[secure].address(transport)
                    target = f"{transport}{'s' if secure else ''}://localhost:{_port(address)}"
                    options = {"ca_file": self.ca_file} if secure else {}
                    self.assertEqual(run(target, token="right-secret", **options), EXPECTED)
                    with self.assertRaises(dualrpc.RpcError) as raised:
                        run(target, token="wrong-secret", **options)
                    self.assertEqual(raised.exception.code, StatusCode.UNAUTHENTICATED,
                                     raised.exception)
                    self.assertNotIn("wrong-secret", raised.exception.message)


if __name__ == "__main__":
    unittest.main(argv=_UNITTEST_ARGV)
