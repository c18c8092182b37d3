"""grpc:// — every call kind through grpcio, bytes in and bytes out."""

import json
import threading

import grpc

from . import _metadata
from . import _tls
from .status import RpcError, StatusCode


class GrpcTransport:
    """Unary calls over one grpc.Channel (which multiplexes them). Thread-safe."""

    def __init__(self, target, max_message_bytes, tls_options=None):
        """tls_options: a _tls.TlsOptions for grpcs://, else None."""
        self._channel = make_channel(grpc, target, max_message_bytes, tls_options)
        self._explain = FailureExplainer(target, tls_options)
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
            raise self._explain(_rpc_error(error)) from None

    def open_stream(self, method, kind, request, requests, timeout, metadata):
        """Starts a streaming call; returns a GrpcStream. Arguments as
        RawTransport.open_stream's."""
        with self._lock:
            if self._closed:
                raise RpcError(StatusCode.CANCELLED, "the client is closed")
        return GrpcStream(self._channel, method, kind, request, requests, timeout, metadata,
                          self._explain)

    def close(self):
        with self._lock:
            self._closed = True
        self._channel.close()


class GrpcStream:
    """One streaming call through grpcio, with the raw stream's interface:
    read() -> bytes or None at the end of an OK call, cancel(), fail(),
    trailing_metadata(). One consumer thread at a time; cancel() and fail()
    from any thread.

    A local failure (fail(), or an RpcError raised by the request iterator,
    e.g. a request over the message limit) cancels the call and is what
    read() then raises instead of grpcio's CANCELLED.
    """

    def __init__(self, channel, method, kind, request, requests, timeout, metadata,
                 explain=lambda error: error):
        self._kind = kind
        self._explain = explain  # A FailureExplainer.
        self._lock = threading.Lock()
        self._local_error = None  # Guarded by _lock.
        self._started = threading.Event()  # Set once self._call is assigned.
        self._finished = False  # The consumer's: read() returned None or raised.
        options = {"timeout": timeout, "metadata": metadata or None}
        if not kind.client_streams:
            self._call = channel.unary_stream(method)(request, **options)
        elif kind.server_streams:
            self._call = channel.stream_stream(method)(self._guarded(requests), **options)
        else:
            self._call = channel.stream_unary(method).future(self._guarded(requests), **options)
        self._started.set()

    def _guarded(self, requests):
        try:
            yield from requests
        except RpcError as error:
            self.fail(error.code, error.message)
        except Exception as error:  # pylint: disable=broad-except
            self.fail(StatusCode.CANCELLED, f"the request iterator raised {error!r}")

    def read(self):
        if self._finished:
            return self._end()
        try:
            if self._kind.server_streams:
                return next(self._call)
            response = self._call.result()
        except StopIteration:
            self._finished = True
            return None
        except grpc.RpcError as error:
            self._finished = True
            raise self._error_for(self._explain(_rpc_error(error))) from None
        except grpc.FutureCancelledError:
            self._finished = True
            raise self._error_for(RpcError(StatusCode.CANCELLED, "cancelled by the client")) \
                from None
        self._finished = True  # Client streaming: the one response, then the end.
        return response

    def _end(self):
        code = self._call.code()
        if code is None or code == grpc.StatusCode.OK:
            return None
        raise self._error_for(RpcError(StatusCode.from_number(code.value[0]),
                                       self._call.details() or ""))

    def _error_for(self, error):
        with self._lock:
            local = self._local_error
        return local if local is not None and error.code == StatusCode.CANCELLED else error

    def fail(self, code, message):
        with self._lock:
            if self._local_error is None:
                self._local_error = RpcError(code, message)
        self._started.wait()
        return self._call.cancel()

    def cancel(self):
        return self.fail(StatusCode.CANCELLED, "cancelled by the client")

    def trailing_metadata(self):
        if not self._call.done():
            return None
        return tuple(_metadata.from_wire(key, value)
                     for key, value in (self._call.trailing_metadata() or ()))


class FailureExplainer:
    """RpcError -> RpcError: an UNAVAILABLE one from grpcio gets our words
    for a failed TLS connection (_tls.grpc_failure_message; may probe the
    server, blocking for up to a few seconds); others pass unchanged."""

    def __init__(self, target, tls_options):
        self._target = target
        self._tls_options = tls_options

    def __call__(self, error):
        if error.code != StatusCode.UNAVAILABLE:
            return error
        message = _tls.grpc_failure_message(error.message, self._target, self._tls_options)
        return error if message is None else RpcError(error.code, message,
                                                      error.trailing_metadata)


# The default service config of a balanced target: round_robin over the
# servers, each watched through grpc.health.v1 (docs/OPERATIONS.md).
BALANCED_SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "healthCheckConfig": {"serviceName": ""},
})


def channel_options(target, max_message_bytes, tls_options=None):
    """grpcio's channel options for `target`: the message limits; for a
    list or dns:/// target gRPC's own round_robin policy (D1: balancing
    over gRPC is grpcio's, never ours), with gRPC's client-side health
    checking (a server whose grpc.health.v1 says NOT_SERVING, as during
    its --shutdown_delay, is no longer picked); for grpcs:// on a list, the first
    host as the name the certificate must match unless server_name is
    given."""
    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]
    if target.balanced:
        options.append(("grpc.lb_policy_name", "round_robin"))
        options.append(("grpc.service_config", BALANCED_SERVICE_CONFIG))
    if target.tls and len(target.addresses) > 1 and tls_options.server_name is None:
        options.append(("grpc.ssl_target_name_override", target.socket_host))
        options.append(("grpc.default_authority", target.host_port))
    return options


def make_channel(grpc_module, target, max_message_bytes, tls_options):
    """A grpc (or grpc.aio: `grpc_module`) channel to `target` (its
    grpc_target: dns:/// as written, a list as ipv4:/ipv6:): insecure, or
    for grpcs:// with grpcio's SSL credentials (ALPN h2)."""
    options = channel_options(target, max_message_bytes, tls_options)
    if not target.tls:
        return grpc_module.insecure_channel(target.grpc_target, options=options)
    credentials, tls_channel_options = _tls.grpc_credentials(tls_options)
    return grpc_module.secure_channel(target.grpc_target, credentials,
                                      options=options + tls_channel_options)


def _rpc_error(error):
    code = error.code()  # A grpc.StatusCode: value is (number, name).
    trailing = error.trailing_metadata() or ()
    return RpcError(StatusCode.from_number(code.value[0]) if code else StatusCode.UNKNOWN,
                    error.details() or "",
                    tuple(_metadata.from_wire(key, value) for key, value in trailing))
