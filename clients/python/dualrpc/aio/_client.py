"""The asyncio client: dualrpc.Client's API with coroutines and async iterators.

Serialization, limits, timeouts and metadata go through the same helpers as
the sync client (dualrpc.client), so every transport behaves the same.
"""

from typing import (AsyncIterator, Callable, Iterable, Optional, Type, Union, AsyncIterable)

from google.protobuf.message import Message

from .. import _balancing
from .. import _metadata
from .._framing import DEFAULT_MAX_MESSAGE_BYTES
from .._raw_transport import DEFAULT_CONNECT_TIMEOUT_SECONDS
from .._streaming import CallKind
from .._tls import TlsOptions
from ..client import (ECHO_METHOD, ECHO_STREAM_METHOD, LIST_DIRECTORY_METHOD, WALK_TREE_METHOD,
                      Metadata, ResponseT, channel_settings, checked_timeout, method_path, parse,
                      serialize)
from ..status import RpcError, StatusCode
from ..v1 import file_service_pb2
from ._raw_balancer import AioBalancedRawTransport
from ._raw_transport import AioRawTransport, iterate

Requests = Union[Iterable, AsyncIterable]


def _one(response):
    return (response,)


class ResponseStream:
    """The responses of a server-streaming or bidi call, as grpc.aio's call:
    `async for` over it (each item parsed, or flattened by `unpack`); a
    failure, also after some responses, raises RpcError there. The call
    opens on the first iteration. cancel() ends it with CANCELLED (the
    server is told); so does cancelling the task that iterates. After the
    end, `await trailing_metadata()` holds the trailers, code() the status.
    """

    def __init__(self, opener, response_class: Type[Message],
                 unpack: Callable[[Message], Iterable] = _one) -> None:
        self._opener = opener  # A coroutine that returns the transport's stream.
        self._stream = None
        self._response_class = response_class
        self._unpack = unpack
        self._pending = iter(())
        self._cancelled = False
        self._code: Optional[StatusCode] = None
        self._details = ""

    def __del__(self):
        if self._opener is not None:
            self._opener.close()  # Never iterated: never opened.

    def __aiter__(self) -> "ResponseStream":
        return self

    async def __anext__(self):
        while True:
            for item in self._pending:
                return item
            self._pending = iter(self._unpack(await self._read_response()))

    async def _read_response(self) -> Message:
        try:
            if self._stream is None:
                await self._open()
            data = await self._stream.read()
        except RpcError as error:
            self._code, self._details = error.code, error.message
            raise
        if data is None:
            self._code = StatusCode.OK
            raise StopAsyncIteration
        try:
            return parse(data, self._response_class)
        except RpcError as error:
            self._stream.fail(error.code, error.message)  # §7.5: INTERNAL, and CANCEL.
            raise

    async def _open(self):
        if self._cancelled:
            raise RpcError(StatusCode.CANCELLED, "cancelled by the client")
        opener, self._opener = self._opener, None
        self._stream = await opener
        if self._cancelled:  # cancel() came while the call was opening.
            self._stream.cancel()

    def cancel(self) -> bool:
        """True if this ended the call; False if it had already ended."""
        self._pending = iter(())
        if self._stream is None:
            if self._opener is not None:
                self._opener.close()  # Never opened: nothing was sent.
                self._opener = None
            ended, self._cancelled = not self._cancelled, True
            return ended
        return bool(self._stream.cancel())

    async def trailing_metadata(self):
        """(key, value) pairs once the call ended, else None."""
        return None if self._stream is None else await self._stream.trailing_metadata()

    def code(self) -> Optional[StatusCode]:
        """The status once iteration ended (or raised), else None."""
        return self._code

    def details(self) -> str:
        return self._details


class Client:
    """Calls one server over grpc:// or raw:// from asyncio; the API is
    dualrpc.Client's, with `await` for single responses and `async for` for
    streams. Any number of tasks may call at once."""

    def __init__(self, target: str, transport, max_message_bytes: int,
                 default_metadata=()) -> None:
        self._target = target
        self._transport = transport
        self._max_message_bytes = max_message_bytes
        self._default_metadata = default_metadata  # Normalized; as dualrpc.Client's.

    @property
    def target(self) -> str:
        return self._target

    async def call(self, method: str, request_message: Message, response_class: Type[ResponseT],
                   timeout: Optional[float] = None,
                   metadata: Optional[Metadata] = None) -> ResponseT:
        """Any unary method. Cancelling the awaiting task cancels the call."""
        path = method_path(method)
        normalized_metadata = _metadata.merge(self._default_metadata,
                                              _metadata.normalize(metadata))
        request = serialize(request_message, self._max_message_bytes)
        timeout = checked_timeout(timeout)
        data = await self._transport.unary_call(path, request, timeout, normalized_metadata)
        return parse(data, response_class)

    async def echo(self, payload: bytes, timeout: Optional[float] = None,
                   metadata: Optional[Metadata] = None) -> bytes:
        request = file_service_pb2.EchoRequest(payload=payload)
        response = await self.call(ECHO_METHOD, request, file_service_pb2.EchoResponse,
                                   timeout=timeout, metadata=metadata)
        return response.payload

    async def list_directory(self, path: str = "", page_size: int = 0, page_token: str = "",
                             timeout: Optional[float] = None,
                             metadata: Optional[Metadata] = None
                             ) -> file_service_pb2.ListDirectoryResponse:
        request = file_service_pb2.ListDirectoryRequest(
            path=path, page_size=page_size, page_token=page_token)
        return await self.call(LIST_DIRECTORY_METHOD, request,
                               file_service_pb2.ListDirectoryResponse,
                               timeout=timeout, metadata=metadata)

    async def iter_directory(self, path: str = "", page_size: int = 0,
                             timeout: Optional[float] = None,
                             metadata: Optional[Metadata] = None
                             ) -> AsyncIterator[file_service_pb2.DirectoryEntry]:
        """Every DirectoryEntry of `path`, following next_page_token;
        `timeout` applies to each page's call."""
        page_token = ""
        while True:
            page = await self.list_directory(path, page_size, page_token, timeout, metadata)
            for entry in page.entries:
                yield entry
            if not page.next_page_token:
                return
            page_token = page.next_page_token

    def unary_stream(self, method: str, request_message: Message,
                     response_class: Type[ResponseT], timeout: Optional[float] = None,
                     metadata: Optional[Metadata] = None, _unpack=_one) -> ResponseStream:
        """Any server-streaming method; `timeout` covers the whole call."""
        return ResponseStream(self._open(method, CallKind.SERVER_STREAMING, request_message,
                                         None, timeout, metadata), response_class, _unpack)

    async def stream_unary(self, method: str, request_iterator: Requests,
                           response_class: Type[ResponseT], timeout: Optional[float] = None,
                           metadata: Optional[Metadata] = None) -> ResponseT:
        """Any client-streaming method: sends every message of
        `request_iterator` (an iterable or async iterable), returns the response."""
        stream = await self._open(method, CallKind.CLIENT_STREAMING, None,
                                  self._serialized(request_iterator), timeout, metadata)
        try:
            data = await stream.read()
            if data is None or await stream.read() is not None:
                raise RpcError(StatusCode.INTERNAL,
                               "a client-streaming call without one response")
        except BaseException:
            stream.cancel()  # Task cancellation too; no-op once the call ended.
            raise
        return parse(data, response_class)

    def stream_stream(self, method: str, request_iterator: Requests,
                      response_class: Type[ResponseT], timeout: Optional[float] = None,
                      metadata: Optional[Metadata] = None, _unpack=_one) -> ResponseStream:
        """Any bidi method. Requests are pulled lazily from `request_iterator`
        (iterable or async iterable) by a task of their own, each once the
        previous one is sent, so it may wait for an answer (ping-pong)."""
        return ResponseStream(self._open(method, CallKind.BIDI_STREAMING, None,
                                         self._serialized(request_iterator), timeout, metadata),
                              response_class, _unpack)

    async def _open(self, method, kind, request_message, requests, timeout, metadata):
        path = method_path(method)
        normalized_metadata = _metadata.merge(self._default_metadata,
                                              _metadata.normalize(metadata))
        request = None if request_message is None else \
            serialize(request_message, self._max_message_bytes)
        return await self._transport.open_stream(path, kind, request, requests,
                                                 checked_timeout(timeout), normalized_metadata)

    async def _serialized(self, request_iterator):
        async for message in iterate(request_iterator):
            yield serialize(message, self._max_message_bytes)

    def walk_tree(self, path: str = "", max_depth: int = 0, timeout: Optional[float] = None,
                  metadata: Optional[Metadata] = None) -> ResponseStream:
        """Every TreeEntry under `path`, in walk order (WalkTree)."""
        request = file_service_pb2.WalkTreeRequest(path=path, max_depth=max_depth)
        return self.unary_stream(WALK_TREE_METHOD, request, file_service_pb2.WalkTreeResponse,
                                 timeout, metadata, _unpack=lambda response: response.entries)

    def echo_stream(self, payloads: Requests, timeout: Optional[float] = None,
                    metadata: Optional[Metadata] = None) -> ResponseStream:
        """EchoStream: each payload (bytes) as the server echoes it."""

        async def requests():
            async for payload in iterate(payloads):
                yield file_service_pb2.EchoRequest(payload=payload)

        return self.stream_stream(ECHO_STREAM_METHOD, requests(), file_service_pb2.EchoResponse,
                                  timeout, metadata, _unpack=lambda response: (response.payload,))

    async def close(self) -> None:
        """Ends the connection; calls still waiting fail with CANCELLED."""
        await self._transport.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"dualrpc.aio.Client({self._target!r})"


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
    """An asyncio Client for `target` (every form dualrpc.connect() takes,
    lists and dns:/// included); arguments (TLS, token, default metadata,
    balancing) as dualrpc.connect()'s. Connects lazily, on the first call."""
    settings = channel_settings(
        target, max_message_bytes, connect_timeout,
        TlsOptions(ca_file, cert_file, key_file, server_name, insecure), metadata, token,
        _balancing.BalancingOptions(health_check_interval, health_check_timeout,
                                    backoff_initial, backoff_multiplier, backoff_jitter,
                                    backoff_max, dns_refresh_interval))
    if settings.target.scheme == "raw" and settings.target.balanced:
        transport = AioBalancedRawTransport(settings.target, max_message_bytes, connect_timeout,
                                            settings.raw_tls, settings.balancing)
    elif settings.target.scheme == "raw":
        transport = AioRawTransport(settings.target, max_message_bytes, connect_timeout,
                                    settings.raw_tls)
    else:
        from ._grpc_transport import AioGrpcTransport  # grpcio only for grpc://.
        transport = AioGrpcTransport(settings.target, max_message_bytes, settings.tls_options)
    return Client(target, transport, max_message_bytes, settings.default_metadata)
