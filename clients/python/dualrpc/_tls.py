"""TLS for grpcs:// and raws:// (docs/PROTOCOL.md: TLS is below the raw preface).

One TlsOptions for both transports, named as the C++ client's
TlsChannelOptions (src/dualrpc/client/channel_factory.h) and the CLI's
grpcurl flags: ca_file (-cacert), cert_file (-cert), key_file (-key),
server_name (-servername), insecure (-insecure).

raw:// over TLS uses the `ssl` module: an SSLContext(PROTOCOL_TLS_CLIENT),
TLS 1.2 at least, ALPN "dualrpc/1", SNI and the hostname check on
server_name or the target's host. grpcs:// uses grpcio's own credentials,
which cannot skip verification (see grpc_credentials()).

A failed handshake is RpcError UNAVAILABLE with the C++ client's words
(src/dualrpc/net/tls.h): "TLS handshake failed: server certificate is not
trusted (...)", "... has expired", "... does not match host \"H\"", "the
peer did not speak TLS (...)", "client certificate required".
"""

import dataclasses
import io
import socket
import ssl
import threading
import time
from typing import Optional

from .status import RpcError, StatusCode

RAW_ALPN = "dualrpc/1"
GRPC_ALPN = "h2"
# OpenSSL's X509_V_ERR_* codes that get their own words.
_X509_CERT_HAS_EXPIRED = 10
_X509_HOSTNAME_MISMATCH = 62
_X509_IP_ADDRESS_MISMATCH = 64
# Reasons OpenSSL gives when the bytes that came back were not TLS.
_NOT_TLS_REASONS = frozenset((
    "WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST", "RECORD_LAYER_FAILURE",
    "PACKET_LENGTH_TOO_LONG", "UNEXPECTED_RECORD", "BAD_RECORD_TYPE"))
_CLIENT_CERT_REQUIRED_REASONS = frozenset((
    "TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE",
    "PEER_DID_NOT_RETURN_A_CERTIFICATE"))
# One read from the socket under a TlsSocket: the largest TLS record and some.
_RECV_BYTES = 64 * 1024


@dataclasses.dataclass(frozen=True)
class TlsOptions:
    """How a client checks the server, and proves itself, over TLS.

    ca_file: PEM CA bundle the server certificate must verify against;
      None: the system trust store.
    cert_file, key_file: PEM client certificate and key (mTLS); both or neither.
    server_name: the name the server certificate must match (and the SNI
      sent) instead of the target's host.
    insecure: do not verify the server certificate (still encrypted).
      raws:// only: grpcio cannot (see grpc_credentials()).
    """
    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    server_name: Optional[str] = None
    insecure: bool = False

    @property
    def empty(self):
        return self == TlsOptions()


def checked_options(target, options):
    """`options` if they fit `target`; ValueError for TLS options on a
    plaintext target, or a certificate without its key."""
    if not target.tls:
        if not options.empty:
            raise ValueError(f"TLS options given for a plaintext target ({target.scheme}://); "
                             "use grpcs:// or raws://")
        return options
    if (options.cert_file is None) != (options.key_file is None):
        raise ValueError("cert_file and key_file go together (mTLS): give both or neither")
    if options.server_name is not None and not options.server_name:
        raise ValueError("server_name must not be empty")
    return options


def _read(path, what):
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise ValueError(f"{what} {path!r}: {error.strerror or error}") from None


def client_context(options, alpn=RAW_ALPN):
    """The SSLContext of a raws:// client (or of a probe that offers `alpn`);
    ValueError if a file cannot be used."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols([alpn])
    try:
        if options.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif options.ca_file is not None:
            context.load_verify_locations(cafile=options.ca_file)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if options.cert_file is not None:
            context.load_cert_chain(options.cert_file, options.key_file)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"TLS files ({_files(options)}): "
                         f"{getattr(error, 'strerror', None) or error}") from None
    return context


def _files(options):
    return ", ".join(f"{name}={getattr(options, name)!r}"
                     for name in ("ca_file", "cert_file", "key_file")
                     if getattr(options, name) is not None) or "system trust store"


def server_hostname(target, options):
    """The name sent as SNI and checked against the certificate."""
    return options.server_name or target.socket_host


def grpc_credentials(options):
    """grpc.ssl_channel_credentials for grpcs://, and the channel options it
    needs. grpcio (1.51) has no way to skip verification (C-core's
    verify_peer_callback is not exposed to Python), so insecure=True is
    refused here rather than silently verified."""
    import grpc  # pylint: disable=import-outside-toplevel
    if options.insecure:
        raise ValueError("insecure=True is not available on grpcs://: grpcio cannot skip "
                         "certificate verification; pass ca_file (the CA that signed the "
                         "server certificate), or use raws://")
    root = None if options.ca_file is None else _read(options.ca_file, "ca_file")
    key = None if options.key_file is None else _read(options.key_file, "key_file")
    chain = None if options.cert_file is None else _read(options.cert_file, "cert_file")
    channel_options = []
    if options.server_name is not None:
        channel_options.append(("grpc.ssl_target_name_override", options.server_name))
    return grpc.ssl_channel_credentials(root, key, chain), channel_options


# grpcio's words for a failed TLS connection (in an UNAVAILABLE's details),
# each with ours; None: ask a probe handshake which failure it was.
_GRPC_TLS_FAILURES = (
    ("certificate verify failed", None),
    # TLS 1.3: the client's handshake is over before the server refuses
    # its (missing) certificate; grpcio then only sees the connection end.
    ("Endpoint read failed", None),
    ("Socket closed", None),
    ("Connection reset by peer", None),
    ("is not in peer certificate", 'TLS handshake failed: server certificate does not match '
                                   'host "{host}"'),
    ("wrong version number", "TLS handshake failed: the peer did not speak TLS (a plaintext "
                             "port? then use grpc://)"),
    ("certificate required", "TLS handshake failed: client certificate required (pass "
                             "cert_file and key_file)"),
)
# How grpcio's details end when the server closed the connection at once
# (closing with the client's bytes unread is a reset).
_CLOSED_AT_ONCE = ("Socket closed", "Connection reset by peer")
# A probe handshake waits at most this long for the server.
_PROBE_TIMEOUT_SECONDS = 2.0


def grpc_failure_message(details, target, options):
    """The message of an UNAVAILABLE gRPC call whose grpcio `details` are
    given: ours first, for TLS failures, then grpcio's in parentheses; or
    None to keep grpcio's as it is. grpcio says "certificate verify failed"
    for an untrusted and for an expired certificate alike, so then one
    handshake of our own (same CA, name and ALPN h2, blocking, at most
    _PROBE_TIMEOUT_SECONDS) tells which. A plaintext target whose server
    closed the connection at once (what a TLS port does to a plaintext
    HTTP/2 client) gets a hint."""
    if not target.tls:
        if details.endswith(_CLOSED_AT_ONCE):
            return f"{details} (a TLS port? then use grpcs://)"
        return None
    host = server_hostname(target, options)
    for needle, words in _GRPC_TLS_FAILURES:
        if needle not in details:
            continue
        if words is None:
            words = probe_handshake(target, options)
        return None if words is None else f"{words.format(host=host)} (grpcio: {details})"
    return None


def probe_handshake(target, options):
    """describe_ssl_error's words for a handshake with `target` as grpcs://
    would make it, and its first read (where TLS 1.3 reports a refused
    client certificate); None if both succeed, time out or the server
    cannot be reached."""
    hostname = server_hostname(target, options)
    try:
        context = client_context(options, GRPC_ALPN)
        with socket.create_connection((target.socket_host, target.port),
                                      timeout=_PROBE_TIMEOUT_SECONDS) as sock:
            with context.wrap_socket(sock, server_hostname=hostname) as tls_socket:
                # An HTTP/2 server's SETTINGS, the alert, or nothing.
                if tls_socket.recv(1):
                    return None
                return _closed_after_handshake(options)
    except ssl.SSLError as error:
        return describe_ssl_error(error, hostname, "grpc")
    except (OSError, ValueError):
        return None


def _closed_after_handshake(options):
    """The words for a server that closed a TLS connection right after a
    handshake that succeeded on our side, before HTTP/2's SETTINGS: what
    grpc++ does, without an alert, to a TLS 1.3 client that sent no
    certificate where one is required (the client's handshake is over
    before the server reads its Certificate message), or one it does not
    trust."""
    if options.cert_file is None:
        return ("TLS handshake failed: the server closed the connection right after the "
                "handshake: client certificate required? (a server that wants mTLS closes so: "
                "pass cert_file and key_file)")
    return ("TLS handshake failed: the server closed the connection right after the "
            "handshake: client certificate refused? (a server that does not trust it closes so)")


def describe_ssl_error(error, host, plaintext_scheme="raw"):
    """The words for an ssl error during or right after a handshake with
    `host`; `plaintext_scheme` is the one to suggest for a plaintext port."""
    if isinstance(error, ssl.SSLCertVerificationError):
        if error.verify_code == _X509_CERT_HAS_EXPIRED:
            return "TLS handshake failed: server certificate has expired"
        if error.verify_code in (_X509_HOSTNAME_MISMATCH, _X509_IP_ADDRESS_MISMATCH):
            return f'TLS handshake failed: server certificate does not match host "{host}"'
        return ("TLS handshake failed: server certificate is not trusted "
                f"({error.verify_message})")
    if isinstance(error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return ("TLS handshake failed: the peer closed the connection (a plaintext port? "
                f"then use {plaintext_scheme}://)")
    reason = getattr(error, "reason", None)
    if reason in _NOT_TLS_REASONS:
        return ("TLS handshake failed: the peer did not speak TLS (a plaintext port? "
                f"then use {plaintext_scheme}://)")
    if reason in _CLIENT_CERT_REQUIRED_REASONS:
        return ("TLS handshake failed: client certificate required (pass cert_file and "
                "key_file)")
    if reason == "TLSV1_ALERT_NO_APPLICATION_PROTOCOL":
        return f"TLS handshake failed: the server does not offer ALPN {RAW_ALPN!r}"
    return f"TLS handshake failed: {reason or error}"


class TlsError(Exception):
    """The TLS session failed after its handshake (an alert from the
    server, e.g. a client certificate it requires); .message says why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class TlsSocket:
    """A client TLS session over a connected socket, with the part of the
    socket interface RawConnection uses (sendall, makefile("rb"),
    shutdown, close, setsockopt).

    Built for one reading thread and one writing thread at once: OpenSSL's
    SSL object must not be used by two threads concurrently, and
    ssl.SSLSocket does not serialize them, so the session is an SSLObject
    over memory BIOs used only under `_lock`, and the socket I/O happens
    outside it. Ciphertext is drained and sent under `_send_lock`, so
    records reach the wire in the order they were made. Owns `sock`.
    """

    def __init__(self, sock, context, hostname, timeout):
        """Handshakes within `timeout` seconds (None: no limit). A failed
        handshake raises RpcError UNAVAILABLE, a slow one TimeoutError, a
        lost connection OSError; `sock` is closed on any failure."""
        self._sock = sock
        self._hostname = hostname
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._closing = False  # Guarded by _lock: shutdown() ran.
        self._ssl = context.wrap_bio(self._incoming, self._outgoing,
                                     server_hostname=hostname)
        try:
            self._handshake(timeout)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)

    def _handshake(self, timeout):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                self._ssl.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            except ssl.SSLError as error:
                try:
                    self._send_pending()  # Our alert, if any: the server logs why.
                except OSError:
                    pass  # The server is gone already; the error says why.
                raise RpcError(StatusCode.UNAVAILABLE,
                               describe_ssl_error(error, self._hostname)) from None
            self._send_pending()
            if done:
                return
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("TLS handshake timed out")
                self._sock.settimeout(remaining)
            try:
                data = self._sock.recv(_RECV_BYTES)
            except ConnectionResetError:
                data = b""
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()

    def _send_pending(self):
        data = self._outgoing.read()
        if data:
            self._sock.sendall(data)

    def sendall(self, data):
        """Encrypts and sends all of `data`; OSError (ssl.SSLError is one)
        if the connection is lost."""
        view = memoryview(data)
        with self._send_lock:
            with self._lock:
                while view:
                    view = view[self._ssl.write(view):]
                ciphertext = self._outgoing.read()
            self._sock.sendall(ciphertext)

    def recv(self, size):
        """Up to `size` bytes of plaintext; b"" at the end of the stream
        (close_notify, or EOF: the raw protocol's framing tells a truncated
        session from a finished one). TlsError for an alert from the server;
        OSError if the connection is lost."""
        while True:
            with self._lock:
                if self._closing:
                    return b""
                try:
                    data = self._ssl.read(size)
                except ssl.SSLWantReadError:
                    data = None
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    data = b""
                except ssl.SSLError as error:
                    raise TlsError(describe_ssl_error(error, self._hostname)) from None
                answer_pending = self._outgoing.pending > 0
            if answer_pending:  # A post-handshake message that needs an answer.
                with self._send_lock, self._lock:
                    ciphertext = self._outgoing.read()
                self._sock.sendall(ciphertext)
            if data is not None:
                return data
            chunk = self._sock.recv(_RECV_BYTES)
            with self._lock:
                if chunk:
                    self._incoming.write(chunk)
                else:
                    self._incoming.write_eof()

    def makefile(self, mode):
        if mode != "rb":
            raise ValueError("TlsSocket.makefile: only 'rb'")
        return io.BufferedReader(_TlsReader(self))

    def setsockopt(self, *args):
        self._sock.setsockopt(*args)

    def settimeout(self, timeout):
        self._sock.settimeout(timeout)

    def shutdown(self, how):
        """Sends close_notify if no send is under way (never blocks on the
        peer), then shuts the socket down as socket.shutdown does."""
        if self._send_lock.acquire(blocking=False):
            try:
                with self._lock:
                    if not self._closing:
                        self._closing = True
                        try:
                            self._ssl.unwrap()
                        except ssl.SSLError:
                            pass  # SSLWantReadError: the peer's close_notify is not awaited.
                        ciphertext = self._outgoing.read()
                        try:
                            self._sock.send(ciphertext, socket.MSG_DONTWAIT)
                        except OSError:
                            pass
            finally:
                self._send_lock.release()
        else:
            with self._lock:
                self._closing = True
        self._sock.shutdown(how)

    def close(self):
        self._sock.close()


class _TlsReader(io.RawIOBase):
    """TlsSocket.recv as a raw stream, for io.BufferedReader."""

    def __init__(self, tls_socket):
        super().__init__()
        self._tls_socket = tls_socket

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._tls_socket.recv(len(buffer))
        buffer[:len(data)] = data
        return len(data)
