"""The dualrpc client: FileService calls, or any method of any call kind, over
either transport. The transports carry bytes; this layer serializes, checks
the message limit and parses, so both transports behave the same."""

import re
import ssl
from typing import (Callable, Iterable, Iterator, Mapping, NamedTuple, Optional, Tuple, Type,
                    TypeVar, Union)

from google.protobuf.message import DecodeError, Message

from . import _balancing
from . import _metadata
from . import _tls
from ._framing import DEFAULT_MAX_MESSAGE_BYTES
from ._raw_balancer import BalancedRawTransport
from ._raw_transport import DEFAULT_CONNECT_TIMEOUT_SECONDS, RawTransport
from ._streaming import CallKind
from ._target import Target, parse_target
from .status import RpcError, StatusCode
from .v1 import file_service_pb2

# Longer timeouts mean no deadline, as the raw protocol's timeout_micros
# (§4.1); grpcio (and Python's waits) would overflow on much larger ones.
MAX_TIMEOUT_SECONDS = 10 * 365 * 24 * 3600

# Call metadata: a mapping or (key, value) pairs; values are bytes for keys
# ending in "-bin", str otherwise.
MetadataValue = Union[str, bytes]
Metadata = Union[Mapping[str, MetadataValue], Iterable[Tuple[str, MetadataValue]]]
ResponseT = TypeVar("ResponseT", bound=Message)

_FILE_SERVICE = file_service_pb2.DESCRIPTOR.services_by_name["FileService"]
_METHOD_PATH = re.compile(r"/[^/]+/[^/]+")


def _path_of(method_descriptor) -> str:
    return f"/{method_descriptor.containing_service.full_name}/{method_descriptor.name}"


ECHO_METHOD = _path_of(_FILE_SERVICE.methods_by_name["Echo"])
LIST_DIRECTORY_METHOD = _path_of(_FILE_SERVICE.methods_by_name["ListDirectory"])
WALK_TREE_METHOD = _path_of(_FILE_SERVICE.methods_by_name["WalkTree"])
ECHO_STREAM_METHOD = _path_of(_FILE_SERVICE.methods_by_name["EchoStream"])


def method_path(method: str) -> str:
    """"pkg.Service/Method" or "/pkg.Service/Method" -> "/pkg.Service/Method"."""
    path = method if method.startswith("/") else "/" + method
    if not _METHOD_PATH.fullmatch(path):
        raise ValueError(f"method {method!r}: expected /package.Service/Method")
    return path


def serialize(message: Message, max_message_bytes: int) -> bytes:
    """`message`'s bytes; RpcError RESOURCE_EXHAUSTED over the limit (nothing is sent)."""
    data = message.SerializeToString()
    if len(data) > max_message_bytes:
        raise RpcError(StatusCode.RESOURCE_EXHAUSTED,
                       f"request message of {len(data)} bytes is over the limit of "
                       f"{max_message_bytes} bytes")
    return data


def parse(data: bytes, response_class: Type[ResponseT]) -> ResponseT:
    """A `response_class` from `data`; RpcError INTERNAL if it does not parse."""
    response = response_class()
    try:
        response.ParseFromString(data)
    except DecodeError:
        raise RpcError(StatusCode.INTERNAL, "cannot parse the response as "
                       f"{response_class.DESCRIPTOR.full_name}") from None
    return response


def checked_timeout(timeout: Optional[float]) -> Optional[float]:
    """The timeout a transport gets: None for none (or too long to matter);
    RpcError DEADLINE_EXCEEDED for one that already passed."""
    if timeout is not None and timeout <= 0:
        raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
    if timeout is not None and timeout > MAX_TIMEOUT_SECONDS:
        return None
    return timeout


def _one(response):
    return (response,)


class FailedStream:
    """A stream that failed to open: its read() raises the error, so a
    streaming call fails the same way on every transport, from the iterator."""

    def __init__(self, error: RpcError) -> None:
        self._error = error

    def read(self):
        raise self._error

    def fail(self, _code, _message):
        return False

    def cancel(self):
        return False

    def trailing_metadata(self):
        return self._error.trailing_metadata


class ResponseStream:
    """The responses of a server-streaming or bidi call, as grpcio's: iterate
    it (each item parsed, or flattened by `unpack`); a failure, also after
    some responses, raises RpcError from the iterator. cancel() ends the
    call with CANCELLED (the server is told) from any thread; after the
    end, trailing_metadata() holds the server's trailers, code() and
    details() the status. One thread iterates at a time.
    """

    def __init__(self, stream, response_class: Type[Message],
                 unpack: Callable[[Message], Iterable] = _one) -> None:
        self._stream = stream
        self._response_class = response_class
        self._unpack = unpack
        self._pending = iter(())
        self._code: Optional[StatusCode] = None
        self._details = ""

    def __iter__(self) -> "ResponseStream":
        return self

    def __next__(self):
        while True:
            for item in self._pending:
                return item
            self._pending = iter(self._unpack(self._read_response()))

    def _read_response(self) -> Message:
        try:
            data = self._stream.read()
        except RpcError as error:
            self._code, self._details = error.code, error.message
            raise
        if data is None:
            self._code = StatusCode.OK
            raise StopIteration
        try:
            return parse(data, self._response_class)
        except RpcError as error:
            self._stream.fail(error.code, error.message)  # §7.5: INTERNAL, and CANCEL.
            raise

    def cancel(self) -> bool:
        """True if this ended the call; False if it had already ended.
        Items not yet yielded (of a batch already read) are dropped too."""
        self._pending = iter(())
        return bool(self._stream.cancel())

    def trailing_metadata(self):
        """(key, value) pairs once the call ended, else None."""
        return self._stream.trailing_metadata()

    def code(self) -> Optional[StatusCode]:
        """The status once the iterator ended (or raised), else None."""
        return self._code

    def details(self) -> str:
        return self._details


class Client:
    """Calls one server, or several (balanced), over grpc:// or raw://; the
    API is the same for both.

    Thread-safe: any number of threads may call at once (over raw:// they
    share one connection per server, multiplexed by call id). Every call takes
    `timeout` in seconds (None, or over MAX_TIMEOUT_SECONDS: no deadline) and
    `metadata` as a mapping or (key, value) pairs, and raises RpcError when
    it does not return OK. A call sends the channel's default metadata
    (connect()'s `metadata` and `token`) first, except the keys it gives
    itself, which replace them.
    """

    def __init__(self, target: str, transport, max_message_bytes: int,
                 default_metadata: Tuple[Tuple[str, MetadataValue], ...] = ()) -> None:
        self._target = target
        self._transport = transport
        self._max_message_bytes = max_message_bytes
        self._default_metadata = default_metadata  # Normalized.

    @property
    def target(self) -> str:
        return self._target

    def call(self, method: str, request_message: Message, response_class: Type[ResponseT],
             timeout: Optional[float] = None,
             metadata: Optional[Metadata] = None) -> ResponseT:
        """Any unary method: sends `request_message`, returns a `response_class`."""
        path = method_path(method)
        normalized_metadata = _metadata.merge(self._default_metadata,
                                              _metadata.normalize(metadata))
        request = serialize(request_message, self._max_message_bytes)
        timeout = checked_timeout(timeout)
        data = self._transport.unary_call(path, request, timeout, normalized_metadata)
        return parse(data, response_class)

    def unary_stream(self, method: str, request_message: Message, response_class: Type[ResponseT],
                     timeout: Optional[float] = None, metadata: Optional[Metadata] = None,
                     _unpack=_one) -> ResponseStream:
        """Any server-streaming method: sends `request_message`, returns a
        ResponseStream of `response_class`. `timeout` covers the whole call."""
        return ResponseStream(
            self._open(method, CallKind.SERVER_STREAMING, request_message, None,
                       timeout, metadata),
            response_class, _unpack)

    def stream_unary(self, method: str, request_iterator: Iterable[Message],
                     response_class: Type[ResponseT], timeout: Optional[float] = None,
                     metadata: Optional[Metadata] = None) -> ResponseT:
        """Any client-streaming method: sends every message of
        `request_iterator` (pulled by a sender thread), returns the response."""
        stream = self._open(method, CallKind.CLIENT_STREAMING, None,
                            self._serialized(request_iterator), timeout, metadata)
        data = stream.read()
        if data is None or stream.read() is not None:
            raise RpcError(StatusCode.INTERNAL, "a client-streaming call without one response")
        return parse(data, response_class)

    def stream_stream(self, method: str, request_iterator: Iterable[Message],
                      response_class: Type[ResponseT], timeout: Optional[float] = None,
                      metadata: Optional[Metadata] = None, _unpack=_one) -> ResponseStream:
        """Any bidi method: a ResponseStream of `response_class`. Requests
        are pulled from `request_iterator` lazily, on a sender thread, each
        once the previous one is sent: it may block waiting for an answer
        (ping-pong). An exception from it cancels the call."""
        return ResponseStream(
            self._open(method, CallKind.BIDI_STREAMING, None,
                       self._serialized(request_iterator), timeout, metadata),
            response_class, _unpack)

    def _open(self, method, kind, request_message, requests, timeout, metadata):
        """The transport's stream, or a FailedStream: a call that cannot
        start fails from its iterator, as grpcio's do. Bad arguments
        (method, metadata) raise here."""
        path = method_path(method)
        normalized_metadata = _metadata.merge(self._default_metadata,
                                              _metadata.normalize(metadata))
        try:
            request = None if request_message is None else \
                serialize(request_message, self._max_message_bytes)
            return self._transport.open_stream(path, kind, request, requests,
                                               checked_timeout(timeout), normalized_metadata)
        except RpcError as error:
            return FailedStream(error)

    def _serialized(self, request_iterator):
        for message in request_iterator:
            yield serialize(message, self._max_message_bytes)

    def walk_tree(self, path: str = "", max_depth: int = 0, timeout: Optional[float] = None,
                  metadata: Optional[Metadata] = None) -> ResponseStream:
        """Every TreeEntry under `path` (WalkTree; 0: no depth limit), in
        walk order, whatever the server's batching. Cancellable."""
        request = file_service_pb2.WalkTreeRequest(path=path, max_depth=max_depth)
        return self.unary_stream(WALK_TREE_METHOD, request, file_service_pb2.WalkTreeResponse,
                                 timeout, metadata, _unpack=lambda response: response.entries)

    def echo_stream(self, payloads: Iterable[bytes], timeout: Optional[float] = None,
                    metadata: Optional[Metadata] = None) -> ResponseStream:
        """EchoStream: yields each payload (bytes) as the server echoes it.
        `payloads` is pulled lazily, as stream_stream's requests."""
        requests = (file_service_pb2.EchoRequest(payload=payload) for payload in payloads)
        return self.stream_stream(ECHO_STREAM_METHOD, requests, file_service_pb2.EchoResponse,
                                  timeout, metadata, _unpack=lambda response: (response.payload,))

    def echo(self, payload: bytes, timeout: Optional[float] = None,
             metadata: Optional[Metadata] = None) -> bytes:
        """Returns `payload` (bytes) as the server echoed it."""
        request = file_service_pb2.EchoRequest(payload=payload)
        return self.call(ECHO_METHOD, request, file_service_pb2.EchoResponse,
                         timeout=timeout, metadata=metadata).payload

    def list_directory(self, path: str = "", page_size: int = 0, page_token: str = "",
                       timeout: Optional[float] = None, metadata: Optional[Metadata] = None
                       ) -> file_service_pb2.ListDirectoryResponse:
        """One page of `path`'s entries: a ListDirectoryResponse."""
        request = file_service_pb2.ListDirectoryRequest(
            path=path, page_size=page_size, page_token=page_token)
        return self.call(LIST_DIRECTORY_METHOD, request, file_service_pb2.ListDirectoryResponse,
                         timeout=timeout, metadata=metadata)

    def iter_directory(self, path: str = "", page_size: int = 0, timeout: Optional[float] = None,
                       metadata: Optional[Metadata] = None
                       ) -> Iterator[file_service_pb2.DirectoryEntry]:
        """Yields every DirectoryEntry of `path`, following next_page_token.

        `timeout` applies to each page's call.
        """
        page_token = ""
        while True:
            page = self.list_directory(path, page_size, page_token, timeout, metadata)
            yield from page.entries
            if not page.next_page_token:
                return
            page_token = page.next_page_token

    def close(self) -> None:
        """Ends the connection; calls still waiting fail with CANCELLED."""
        self._transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"dualrpc.Client({self._target!r})"


class ChannelSettings(NamedTuple):
    """connect()'s arguments, checked: one reading for dualrpc and dualrpc.aio."""
    target: Target
    max_message_bytes: int
    connect_timeout: float
    tls_options: _tls.TlsOptions
    raw_tls: Optional[Tuple[ssl.SSLContext, str]]  # raws://: (context, SNI host name).
    default_metadata: Tuple[Tuple[str, MetadataValue], ...]
    balancing: _balancing.BalancingOptions


def channel_settings(target: str, max_message_bytes: int, connect_timeout: float,
                     tls_options: _tls.TlsOptions, metadata: Optional[Metadata],
                     token: Optional[str],
                     balancing: _balancing.BalancingOptions = _balancing.BalancingOptions()
                     ) -> ChannelSettings:
    """ValueError (or TypeError for metadata) for anything connect() cannot use."""
    parsed = parse_target(target)
    balancing = balancing.checked()
    if not isinstance(max_message_bytes, int) or max_message_bytes <= 0:
        raise ValueError("max_message_bytes must be a positive int")
    if connect_timeout <= 0:
        raise ValueError("connect_timeout must be positive")
    tls_options = _tls.checked_options(parsed, tls_options)
    raw_tls = None
    if parsed.tls and parsed.scheme == "raw":
        raw_tls = (_tls.client_context(tls_options), _tls.server_hostname(parsed, tls_options))
    return ChannelSettings(parsed, max_message_bytes, connect_timeout, tls_options, raw_tls,
                           _metadata.channel_defaults(metadata, token), balancing)


def connect(target: str, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
            connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
            ca_file: Optional[str] = None, cert_file: Optional[str] = None,
            key_file: Optional[str] = None, server_name: Optional[str] = None,
            insecure: bool = False, token: Optional[str] = None,
            metadata: Optional[Metadata] = None,
            health_check_interval: float = _balancing.DEFAULT_HEALTH_CHECK_INTERVAL_SECONDS,
            health_check_timeout: float = _balancing.DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS,
            backoff_initial: float = _balancing.DEFAULT_BACKOFF_INITIAL_SECONDS,
            backoff_multiplier: float = _balancing.DEFAULT_BACKOFF_MULTIPLIER,
            backoff_jitter: float = _balancing.DEFAULT_BACKOFF_JITTER,
            backoff_max: float = _balancing.DEFAULT_BACKOFF_MAX_SECONDS,
            dns_refresh_interval: float = _balancing.DEFAULT_DNS_REFRESH_SECONDS) -> Client:
    """A Client for a target: "grpc://HOST:PORT" or "HOST:PORT" (gRPC),
    "grpcs://HOST:PORT" (gRPC over TLS), "raw://HOST:PORT",
    "raws://HOST:PORT" (raw over TLS), "unix:///PATH" (gRPC on a unix
    socket) or "raw+unix:///PATH" (raw on a unix socket); or several
    servers: a list "raw://H1:P1,H2:P2" (any scheme but unix; on gRPC IP
    literals only), "dns:///NAME:PORT" (gRPC), "raw+dns:///NAME:PORT",
    "grpcs+dns:///…", "raws+dns:///…"; see _target.py and README.md.
    Connects lazily. Bad arguments raise ValueError here, not at the call.

    max_message_bytes: largest request or response message, either way
      (default 4 MiB, the server's default); a larger request fails with
      RESOURCE_EXHAUSTED before anything is sent.
    connect_timeout: longest wait, in seconds, for raw://'s TCP connect and,
      on raws://, its TLS handshake (a call's own deadline may cut it
      shorter). grpc:// connects in the background and fails calls fast
      with UNAVAILABLE instead.

    TLS (grpcs:// and raws:// only; the CLI's -cacert, -cert, -key,
    -servername, -insecure):
    ca_file: PEM CA bundle the server certificate must verify against
      (default: the system trust store).
    cert_file, key_file: PEM client certificate and its key, for servers
      that require one (mTLS); both or neither.
    server_name: the name the server certificate must match, and the SNI
      sent, instead of the target's host.
    insecure: skip verifying the server certificate (still encrypted).
      raws:// only: grpcio cannot, so grpcs:// refuses it (ValueError).
    A handshake that fails (untrusted, expired or wrong-host certificate, a
    plaintext port) fails the call with UNAVAILABLE saying which.

    Credentials, on every call of the client, both transports:
    token: sends "authorization: Bearer <token>" (the server's --auth_tokens).
    metadata: default metadata, as a call's `metadata`; a call's own entry
      for a key replaces the default's.

    Balancing over several servers (gRPC: grpcio's round_robin, these
    options unused; raw: ours, README.md "Several servers"), in seconds:
    health_check_interval: a raw connection idle this long gets a PING;
    health_check_timeout: no PONG within this closes it and ejects the
      backend (calls go to the others).
    backoff_initial, backoff_multiplier, backoff_jitter, backoff_max: an
      ejected backend is retried after initial, then ×multiplier up to max,
      each delay spread by ±jitter (a fraction); reset once connected.
    dns_refresh_interval: raw+dns:/// re-resolves this often (and at once
      when every backend is ejected).
    """
    settings = channel_settings(
        target, max_message_bytes, connect_timeout,
        _tls.TlsOptions(ca_file, cert_file, key_file, server_name, insecure), metadata, token,
        _balancing.BalancingOptions(health_check_interval, health_check_timeout,
                                    backoff_initial, backoff_multiplier, backoff_jitter,
                                    backoff_max, dns_refresh_interval))
    if settings.target.scheme == "raw" and settings.target.balanced:
        transport = BalancedRawTransport(settings.target, max_message_bytes, connect_timeout,
                                         settings.raw_tls, settings.balancing)
    elif settings.target.scheme == "raw":
        transport = RawTransport(settings.target, max_message_bytes, connect_timeout,
                                 settings.raw_tls)
    else:
        from ._grpc_transport import GrpcTransport  # grpcio only for grpc://.
        transport = GrpcTransport(settings.target, max_message_bytes, settings.tls_options)
    return Client(target, transport, max_message_bytes, settings.default_metadata)
