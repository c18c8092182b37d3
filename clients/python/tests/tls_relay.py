"""A TLS-terminating relay for the client's TLS tests (test-only).

TlsRelay accepts TLS on 127.0.0.1:0 with a server certificate, negotiates
one ALPN id ("dualrpc/1" in front of a raw port, "h2" in front of a gRPC
port), optionally requires a client certificate signed by a CA (mTLS),
and relays the plaintext both ways to a backend port — a real
dualrpc-server, FakeRawServer or the grpcio test server — and records
what each handshake agreed on (ALPN id, SNI, client certificate subject).

make_certs() runs the one certificate generator, tests/testing/make_test_certs.sh.
"""

import dataclasses
import os
import select
import socket
import ssl
import subprocess
import threading

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
MAKE_TEST_CERTS = os.path.join(REPO_ROOT, "tests", "testing", "make_test_certs.sh")
# Longest the relay waits to start, stop or finish a handshake.
WAIT_SECONDS = 10.0
_RELAY_CHUNK_BYTES = 64 * 1024
# Longest a refused connection is kept open for the client to read the alert.
_LINGER_SECONDS = 2.0


def make_certs(directory):
    """Writes the test certificates (make_test_certs.sh's list) into `directory`."""
    subprocess.run(["sh", MAKE_TEST_CERTS, directory], check=True, timeout=60,
                   stdout=subprocess.DEVNULL)
    return directory


@dataclasses.dataclass
class Handshake:
    alpn: str  # The id agreed on; None if the client offered none we take.
    sni: str  # The server name the client sent; None without SNI.
    client_subject: tuple  # The client certificate's subject, as ssl gives it; () without.


def _linger(tls):
    """After a refused handshake: FIN after the alert, then read until the
    client closes, so that closing with its bytes unread (a RST) does not
    destroy the alert before the client reads it."""
    try:
        raw = socket.socket(fileno=os.dup(tls.fileno()))
        with raw:
            raw.settimeout(_LINGER_SECONDS)
            raw.shutdown(socket.SHUT_WR)
            while raw.recv(_RELAY_CHUNK_BYTES):
                pass
    except OSError:
        pass


class TlsRelay:
    """TLS on 127.0.0.1:`port` in front of 127.0.0.1:`backend_port`.

    cert_name: the certificate pair in `certs_dir` ("server", "expired", ...).
    client_ca: a CA file: client certificates are then required (mTLS).
    One thread accepts; one thread per connection does the handshake and
    then relays both ways with select(), so each SSL object is used by one
    thread only, and a refused handshake sends its alert as OpenSSL makes
    it. close() ends every connection and joins every thread.
    """

    def __init__(self, certs_dir, backend_port, alpn, cert_name="server", client_ca=None):
        self._backend_port = backend_port
        self._lock = threading.Lock()
        # Guarded by _lock.
        self.handshakes = []
        self.errors = []  # The handshakes the relay refused: the ssl errors.
        self._sockets = set()
        self._threads = []
        self._closed = False
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(os.path.join(certs_dir, f"{cert_name}.pem"),
                                      os.path.join(certs_dir, f"{cert_name}.key"))
        self._context.set_alpn_protocols([alpn])
        self._context.sni_callback = self._record_sni
        if client_ca is not None:
            self._context.verify_mode = ssl.CERT_REQUIRED
            self._context.load_verify_locations(cafile=client_ca)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name="tls-relay", daemon=True)
        self._acceptor.start()

    @staticmethod
    def _record_sni(ssl_socket, server_name, _context):
        ssl_socket.relay_sni = server_name

    def _accept_loop(self):
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # close()
            with self._lock:
                if self._closed:
                    sock.close()
                    return
                self._sockets.add(sock)
                thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock):
        backend = None
        # wrap_socket moves the fd from `sock` into `tls`: `tls` is what to close.
        tls = self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self._lock:
            self._sockets.discard(sock)
            self._sockets.add(tls)
        try:
            tls.settimeout(WAIT_SECONDS)
            try:
                tls.do_handshake()
            except (ssl.SSLError, OSError) as error:
                with self._lock:
                    self.errors.append(error)
                _linger(tls)
                return
            peer = tls.getpeercert() or {}
            with self._lock:
                self.handshakes.append(Handshake(tls.selected_alpn_protocol(),
                                                 getattr(tls, "relay_sni", None),
                                                 peer.get("subject", ())))
            tls.settimeout(None)
            backend = socket.create_connection(("127.0.0.1", self._backend_port),
                                               timeout=WAIT_SECONDS)
            backend.settimeout(None)
            with self._lock:
                self._sockets.add(backend)
            self._pump(tls, backend)
        except OSError:
            pass  # The client or the backend went away, or close().
        finally:
            with self._lock:
                self._sockets.discard(tls)
                self._sockets.discard(backend)
            tls.close()
            if backend is not None:
                backend.close()

    @staticmethod
    def _pump(tls, backend):
        """Relays until the backend closes; a client EOF half-closes the backend."""
        client_open = True
        while True:
            readable = [backend] + ([tls] if client_open else [])
            ready = [tls] if client_open and tls.pending() else \
                select.select(readable, [], [])[0]
            if tls in ready:
                data = tls.recv(_RELAY_CHUNK_BYTES)
                if data:
                    backend.sendall(data)
                else:
                    client_open = False
                    backend.shutdown(socket.SHUT_WR)
            if backend in ready:
                data = backend.recv(_RELAY_CHUNK_BYTES)
                if not data:
                    return
                tls.sendall(data)

    def close(self):
        with self._lock:
            self._closed = True
            sockets, threads = list(self._sockets), list(self._threads)
        self._listener.close()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass  # Wakes accept() if close() did not.
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._acceptor.join(WAIT_SECONDS)
        for thread in threads:
            thread.join(WAIT_SECONDS)

    def __enter__(self):
        return self

    def __exit__(self, *_exc_info):
        self.close()
