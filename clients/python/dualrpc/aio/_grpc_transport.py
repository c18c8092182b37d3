"""grpc:// for asyncio — every call kind through grpc.aio, bytes in and out."""

import asyncio

import grpc
import grpc.aio

from .._grpc_transport import FailureExplainer, _rpc_error, make_channel
from .. import _metadata
from ..status import RpcError, StatusCode
from ._raw_transport import iterate


class AioGrpcTransport:
    """Calls over one grpc.aio.Channel, on the loop that made it."""

    def __init__(self, target, max_message_bytes, tls_options=None):
        self._channel = make_channel(grpc.aio, target, max_message_bytes, tls_options)
        explainer = FailureExplainer(target, tls_options)
        # Off the loop: explaining a TLS failure may probe the server.
        self._explain = lambda error: asyncio.get_running_loop().run_in_executor(
            None, explainer, error)
        self._closed = False

    def _check_open(self):
        if self._closed:
            raise RpcError(StatusCode.CANCELLED, "the client is closed")

    async def unary_call(self, method, request, timeout, metadata):
        self._check_open()
        try:
            return await self._channel.unary_unary(method)(
                request, timeout=timeout, metadata=metadata or None)
        except grpc.RpcError as error:
            raise await self._explain(_rpc_error(error)) from None

    async def open_stream(self, method, kind, request, requests, timeout, metadata):
        self._check_open()
        return AioGrpcStream(self._channel, method, kind, request, requests, timeout, metadata,
                             self._explain)

    async def close(self):
        self._closed = True
        await self._channel.close()


class AioGrpcStream:
    """One streaming call through grpc.aio with the raw _AioCall's interface:
    await read() -> bytes or None at the end of an OK call, cancel(),
    fail(), trailing_metadata(). A local failure (fail(), or an RpcError
    from the request iterator) cancels the call and is what read() raises.
    Cancelling the task awaiting read() cancels the call."""

    def __init__(self, channel, method, kind, request, requests, timeout, metadata,
                 explain=None):
        self._kind = kind
        self._explain = explain  # RpcError -> awaitable RpcError, or None.
        self._local_error = None
        self._finished = False
        options = {"timeout": timeout, "metadata": metadata or None}
        if not kind.client_streams:
            self._call = channel.unary_stream(method)(request, **options)
        elif kind.server_streams:
            self._call = channel.stream_stream(method)(self._guarded(requests), **options)
        else:
            self._call = channel.stream_unary(method)(self._guarded(requests), **options)

    async def _guarded(self, requests):
        try:
            async for request in iterate(requests):
                yield request
        except RpcError as error:
            self.fail(error.code, error.message)
        except Exception as error:  # pylint: disable=broad-except
            self.fail(StatusCode.CANCELLED, f"the request iterator raised {error!r}")

    async def read(self):
        if self._finished:
            return None
        try:
            if self._kind.server_streams:
                response = await self._call.read()
                if response is grpc.aio.EOF:
                    self._finished = True
                    return None
                return response
            response = await self._call
            self._finished = True
            return response
        except grpc.RpcError as error:
            self._finished = True
            failure = _rpc_error(error)
            if self._explain is not None:
                failure = await self._explain(failure)
            raise self._error_for(failure) from None
        except asyncio.CancelledError:
            if self._local_error is None:  # Our task was cancelled: so is the call.
                self._call.cancel()
                raise
            self._finished = True
            raise self._local_error from None

    def _error_for(self, error):
        if self._local_error is not None and error.code == StatusCode.CANCELLED:
            return self._local_error
        return error

    def fail(self, code, message):
        if self._call.done():
            return False
        if self._local_error is None:
            self._local_error = RpcError(code, message)
        return self._call.cancel()

    def cancel(self):
        return self.fail(StatusCode.CANCELLED, "cancelled by the client")

    async def trailing_metadata(self):
        if not self._call.done():
            return None
        trailing = await self._call.trailing_metadata()
        return tuple(_metadata.from_wire(key, value) for key, value in (trailing or ()))
