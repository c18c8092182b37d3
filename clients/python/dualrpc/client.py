"""The dualrpc client: FileService calls, or any unary method, over either
transport. The transports carry bytes; this layer serializes, checks the
message limit and parses, so both transports behave the same."""

import re
from typing import Iterable, Iterator, Mapping, Optional, Tuple, Type, TypeVar, Union

from google.protobuf.message import DecodeError, Message

from . import _metadata
from ._framing import DEFAULT_MAX_MESSAGE_BYTES
from ._raw_transport import DEFAULT_CONNECT_TIMEOUT_SECONDS, RawTransport
from ._target import parse_target
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


def method_path(method: str) -> str:
    """"pkg.Service/Method" or "/pkg.Service/Method" -> "/pkg.Service/Method"."""
    path = method if method.startswith("/") else "/" + method
    if not _METHOD_PATH.fullmatch(path):
        raise ValueError(f"method {method!r}: expected /package.Service/Method")
    return path


class Client:
    """Calls one server over grpc:// or raw://; the API is the same for both.

    Thread-safe: any number of threads may call at once (over raw:// they
    share one connection, multiplexed by call id). Every call takes
    `timeout` in seconds (None, or over MAX_TIMEOUT_SECONDS: no deadline) and
    `metadata` as a mapping or (key, value) pairs, and raises RpcError when
    it does not return OK.
    """

    def __init__(self, target: str, transport, max_message_bytes: int) -> None:
        self._target = target
        self._transport = transport
        self._max_message_bytes = max_message_bytes

    @property
    def target(self) -> str:
        return self._target

    def call(self, method: str, request_message: Message, response_class: Type[ResponseT],
             timeout: Optional[float] = None,
             metadata: Optional[Metadata] = None) -> ResponseT:
        """Any unary method: sends `request_message`, returns a `response_class`."""
        path = method_path(method)
        normalized_metadata = _metadata.normalize(metadata)
        request = request_message.SerializeToString()
        if len(request) > self._max_message_bytes:
            raise RpcError(StatusCode.RESOURCE_EXHAUSTED,
                           f"request message of {len(request)} bytes is over the limit of "
                           f"{self._max_message_bytes} bytes")
        if timeout is not None and timeout <= 0:
            raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
        if timeout is not None and timeout > MAX_TIMEOUT_SECONDS:
            timeout = None
        data = self._transport.unary_call(path, request, timeout, normalized_metadata)
        response = response_class()
        try:
            response.ParseFromString(data)
        except DecodeError:
            raise RpcError(StatusCode.INTERNAL, "cannot parse the response as "
                           f"{response_class.DESCRIPTOR.full_name}") from None
        return response

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


def connect(target: str, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
            connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS) -> Client:
    """A Client for a target: "grpc://HOST:PORT" or "HOST:PORT" (gRPC),
    "raw://HOST:PORT", "unix:///PATH" (gRPC on a unix socket) or
    "raw+unix:///PATH" (raw on a unix socket); see _target.py. Connects lazily.

    max_message_bytes: largest request or response message, either way
      (default 4 MiB, the server's default); a larger request fails with
      RESOURCE_EXHAUSTED before anything is sent.
    connect_timeout: longest wait, in seconds, for raw://'s TCP connect (a
      call's own deadline may cut it shorter). grpc:// connects in the
      background and fails calls fast with UNAVAILABLE instead.
    """
    parsed = parse_target(target)
    if not isinstance(max_message_bytes, int) or max_message_bytes <= 0:
        raise ValueError("max_message_bytes must be a positive int")
    if connect_timeout <= 0:
        raise ValueError("connect_timeout must be positive")
    if parsed.scheme == "raw":
        transport = RawTransport(parsed, max_message_bytes, connect_timeout)
    else:
        from ._grpc_transport import GrpcTransport  # grpcio only for grpc://.
        transport = GrpcTransport(parsed, max_message_bytes)
    return Client(target, transport, max_message_bytes)
