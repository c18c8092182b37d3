"""grpc:// — unary calls through grpcio, bytes in and bytes out."""

import threading

import grpc

from . import _metadata
from .status import RpcError, StatusCode


class GrpcTransport:
    """Unary calls over one grpc.Channel (which multiplexes them). Thread-safe."""

    def __init__(self, target, max_message_bytes):
        self._channel = grpc.insecure_channel(target.host_port, options=[
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ])
        self._lock = threading.Lock()
        self._closed = False  # Guarded by _lock.

    def unary_call(self, method, request, timeout, metadata):
        """Sends `request` bytes, returns the response bytes or raises RpcError.

        `timeout`: seconds (> 0) or None; `metadata`: normalized pairs.
        """
        with self._lock:
            if self._closed:
                raise RpcError(StatusCode.CANCELLED, "the client is closed")
        # No serializers: the Client serializes, so both transports carry bytes.
        stub = self._channel.unary_unary(method)
        try:
            return stub(request, timeout=timeout, metadata=metadata or None)
        except grpc.RpcError as error:
            raise _rpc_error(error) from None

    def close(self):
        with self._lock:
            self._closed = True
        self._channel.close()


def _rpc_error(error):
    code = error.code()  # A grpc.StatusCode: value is (number, name).
    trailing = error.trailing_metadata() or ()
    return RpcError(StatusCode.from_number(code.value[0]) if code else StatusCode.UNKNOWN,
                    error.details() or "",
                    tuple(_metadata.from_wire(key, value) for key, value in trailing))
