"""raw:// for asyncio — the raw protocol (docs/PROTOCOL.md, 1.1 with §7) on
asyncio streams: no threads. Same behaviour as dualrpc._raw_transport, whose
codec (_framing) and streaming bookkeeping (_streaming) it shares.

Everything here runs on one event loop (the one that made the connection):
  * callers: start_call() assigns the call id and writes the REQUEST in one
    step, so ids reach the wire in increasing order (§3.3); the caller then
    awaits its _AioCall's read().
  * a sender task per client-streaming or bidi call pulls its requests and
    waits for window (§7.4).
  * the reader task reads every frame, completes calls by id, answers PING,
    handles GOAWAY and, however the connection ends, runs the one close path
    (_finish).
Writes go straight into the StreamWriter's buffer (the loop serializes
them); senders await drain() so a slow socket holds them back.
"""

import asyncio
import collections
import math
import socket
import ssl

from google.protobuf.message import DecodeError

from .. import _framing as framing
from .. import _metadata
from .._raw_transport import _HEALTH_PING_PAYLOAD, DEFAULT_CONNECT_TIMEOUT_SECONDS, _Outcome
from .._streaming import (CallKind, StreamFlow, check_final_response,
                          check_streaming_server, preface_wait)
from .._tls import describe_ssl_error
from ..status import RpcError, StatusCode

_DISCARD_CHUNK_BYTES = 64 * 1024
_MAX_CONNECTION_ATTEMPTS = 3
_DEADLINE_EXCEEDED = _Outcome(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")


async def iterate(requests):
    """An async iterator over an async or a plain iterable."""
    if hasattr(requests, "__aiter__"):
        async for request in requests:
            yield request
    else:
        for request in requests:
            yield request


class _ConnectionRetired(Exception):
    """The connection takes no new calls (GOAWAY, closed, or ids used up)."""


class _AioCall:
    """One call of any kind on an AioRawConnection. Loop-bound.

    Finished exactly once, by whoever removes it from the connection's table
    (finish()). Responses that arrived before a failure are read first,
    unless the application cancelled. A unary or client-streaming call's
    one response is queued when its OK RESPONSE arrives.
    """

    def __init__(self, connection, kind, max_message_bytes):
        self._connection = connection
        self._flow = StreamFlow(kind, max_message_bytes)
        self._responses = collections.deque()  # (message bytes, window cost)
        self._waiters = []  # Futures of read() and the sender, woken on any change.
        self._cancelled = False
        self.outcome = None
        self.call_id = 0
        self.deadline_handle = None
        self.sender = None  # The task running send_requests(), if any.

    @property
    def kind(self):
        return self._flow.kind

    def _wake(self):
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def _changed(self):
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def finish(self, outcome, last_frame=None):
        if self.outcome is not None:
            return False
        problem = check_final_response(self.kind, outcome.code, outcome.payload)
        if problem:
            outcome = _Outcome(*problem, b"", outcome.trailing_metadata)
        elif outcome.code == StatusCode.OK and not self.kind.server_streams:
            self._responses.append((outcome.payload, 0))
        if last_frame is not None:
            self._connection.write(last_frame)
        self.outcome = outcome
        self._wake()
        if self.deadline_handle is not None:
            self.deadline_handle.cancel()
        if self.sender is not None and self.sender is not asyncio.current_task():
            self.sender.cancel()  # It may be waiting on the request iterator.
        return True

    def on_message(self, flags, payload):
        if self.outcome is not None:
            return None
        problem = self._flow.on_message(flags, len(payload))
        if problem is None:
            self._responses.append((payload, framing.message_cost(len(payload))))
            self._wake()
        return problem

    def on_window_update(self, increment):
        self._flow.on_window_update(increment)
        self._wake()

    async def wait_done(self):
        """Returns once the call has its outcome (responses may wait unread)."""
        while self.outcome is None:
            await self._changed()

    async def read(self):
        """The next response's bytes; None after the last of an OK call.
        RpcError once the call failed. Cancelling the awaiting task cancels
        the call (CANCEL is sent)."""
        try:
            while not self._responses and self.outcome is None:
                await self._changed()
        except asyncio.CancelledError:
            self.cancel()
            raise
        if self._responses and not self._cancelled:
            message, cost = self._responses.popleft()
            increment = self._flow.on_consumed(cost) if cost else 0
            if increment and self.outcome is None:
                self._connection.write(framing.encode_window_update(self.call_id, increment))
            return message
        if self.outcome.code == StatusCode.OK:
            return None
        raise RpcError(self.outcome.code, self.outcome.message, self.outcome.trailing_metadata)

    def cancel(self):
        if self.outcome is None:
            self._cancelled = True
        return self.fail(StatusCode.CANCELLED, "cancelled by the client")

    def fail(self, code, message):
        return self._connection.abandon(self.call_id, _Outcome(code, message))

    async def trailing_metadata(self):
        return None if self.outcome is None else self.outcome.trailing_metadata

    async def send_requests(self, requests):
        """Pulls each request (bytes) once the previous is sent, waits for
        window, then half-closes. An exception from `requests` fails the call."""
        try:
            async for request in iterate(requests):
                while self.outcome is None and not self._flow.can_send():
                    await self._changed()
                if self.outcome is not None:
                    return
                self._flow.on_sent(len(request))
                self._connection.write(framing.encode_message(self.call_id, request))
                await self._connection.drain()
                if self.outcome is not None:
                    return
            if self.outcome is None:
                self._connection.write(framing.encode_half_close(self.call_id))
        except RpcError as error:
            self.fail(error.code, error.message)
        except (asyncio.CancelledError, ConnectionError):
            pass  # The call ended (finish() cancels us) or the connection did.
        except Exception as error:  # pylint: disable=broad-except
            self.fail(StatusCode.CANCELLED, f"the request iterator raised {error!r}")


class AioRawConnection:
    """One connection speaking the raw protocol, on the running loop. Owns
    its StreamWriter and its reader task."""

    def __init__(self, reader, writer, max_message_bytes,
                 preface_timeout=DEFAULT_CONNECT_TIMEOUT_SECONDS, tls_hostname="",
                 listener=None):
        """tls_hostname: over TLS, the name the certificate was checked
        against (for the words of a TLS error). listener: as RawConnection's
        (called on the loop: "goaway", then "closed" once)."""
        self._preface_timeout = preface_timeout  # As RawConnection's.
        self._listener = listener
        self._tls_hostname = tls_hostname
        self._reader = reader
        self._writer = writer
        self._max_message_bytes = max_message_bytes
        self._max_frame_payload = framing.max_frame_payload(max_message_bytes)
        self._pending = {}  # call id -> _AioCall
        self._next_call_id = 1
        self._accepting = True
        self._closed = False
        self._goaway = None
        self._close_reason = None
        self._failed_with_calls = False  # As RawConnection's.
        # Health check, as RawConnection's, in loop.time().
        self.last_read_at = asyncio.get_running_loop().time()
        self.ping_sent_at = None
        self._server_minor = 0
        self._preface_received = False
        self._server_preface_read = asyncio.Event()  # Or closed.
        self._handlers = {
            framing.FrameType.RESPONSE: self._on_response,
            framing.FrameType.PING: self._on_ping,
            framing.FrameType.GOAWAY: self._on_goaway,
            framing.FrameType.MESSAGE: self._on_message,
            framing.FrameType.WINDOW_UPDATE: self._on_window_update,
        }
        writer.write(framing.PREFACE)  # §2: frames may follow at once.
        self._read_task = asyncio.get_running_loop().create_task(self._read_loop())

    @property
    def accepting_calls(self):
        return self._accepting

    @property
    def closed(self):
        return self._closed

    @property
    def failed_with_calls(self):
        return self._failed_with_calls

    @property
    def close_message(self):
        return "" if self._close_reason is None else self._close_reason[1]

    async def wait_for_preface(self, timeout):
        """As RawConnection.wait_for_preface."""
        try:
            await asyncio.wait_for(self._server_preface_read.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return self._preface_received and not self._closed

    def send_health_ping(self):
        self.ping_sent_at = asyncio.get_running_loop().time()
        self.write(framing.encode_ping(_HEALTH_PING_PAYLOAD, ack=False))

    def fail(self, message):
        """Ends the connection as a failure (UNAVAILABLE `message`)."""
        self._finish(StatusCode.UNAVAILABLE, message)

    def write(self, frame):
        """Bytes, or a tuple of bytes (one frame). Dropped once closed."""
        if self._closed or self._writer.is_closing():
            return
        if isinstance(frame, tuple):
            self._writer.writelines(frame)
        else:
            self._writer.write(frame)

    async def drain(self):
        if not self._closed:
            await self._writer.drain()

    async def start_call(self, method, kind, request, deadline, metadata):
        """Opens a call of `kind` (the REQUEST is written); returns its _AioCall.

        `deadline`: a loop.time() value or None. Streaming calls wait for the
        server's preface first (§7.1), until `deadline` or preface_timeout.
        Raises _ConnectionRetired or RpcError.
        """
        loop = asyncio.get_running_loop()
        if kind != CallKind.UNARY:
            wait, code, message = preface_wait(
                None if deadline is None else deadline - loop.time(), self._preface_timeout)
            try:
                await asyncio.wait_for(self._server_preface_read.wait(), wait)
            except asyncio.TimeoutError:
                raise RpcError(code, message) from None
            if self._close_reason is not None and self._server_minor == 0:
                raise RpcError(*self._close_reason)
            problem = check_streaming_server(self._server_minor)
            if problem:
                raise RpcError(*problem)
        timeout_micros = 0
        if deadline is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before sending")
            timeout_micros = max(1, math.ceil(remaining * 1e6))
        try:
            payload = framing.encode_call_payload(
                framing.request_header(method, timeout_micros, metadata), request or b"")
        except framing.CallHeaderTooLarge as error:
            raise RpcError(StatusCode.RESOURCE_EXHAUSTED, str(error)) from None
        if not self._accepting:
            if self._close_reason is not None and not self._preface_received:
                # As RawConnection's: a new connection would be refused again.
                raise RpcError(*self._close_reason)
            raise _ConnectionRetired()
        call = _AioCall(self, kind, self._max_message_bytes)
        call.call_id = self._next_call_id
        self._next_call_id += 1
        if call.call_id == framing.MAX_CALL_ID:
            self._accepting = False
        self._pending[call.call_id] = call
        encode = framing.encode_stream_request if kind.client_streams else framing.encode_request
        self.write((encode(call.call_id, payload), payload))
        if deadline is not None:
            call.deadline_handle = loop.call_at(deadline, self.abandon, call.call_id,
                                                _DEADLINE_EXCEEDED)
        return call

    def abandon(self, call_id, outcome):
        """Ends a call here with `outcome` and sends CANCEL (§4.5, §7.5);
        False if it had already finished."""
        call = self._pending.pop(call_id, None)
        if call is None:
            return False
        call.finish(outcome, framing.encode_cancel(call_id))
        self._close_if_drained()
        return True

    async def close(self, message="the client is closed"):
        self._finish(StatusCode.CANCELLED, message)
        await asyncio.gather(self._read_task, return_exceptions=True)

    # The one close path.

    def _finish(self, code, message):
        if self._closed:
            return
        self._closed = True
        self._close_reason = (code, message)
        self._accepting = False
        # Every REQUEST went into the writer's buffer at start_call: all
        # count as sent (only GOAWAY tells of unsent ones here).
        self._failed_with_calls = bool(self._pending) and code != StatusCode.CANCELLED
        doomed = list(self._pending.values())
        self._pending.clear()
        self._server_preface_read.set()
        for call in doomed:
            call.finish(_Outcome(code, message))
        self._writer.close()
        if self._read_task is not asyncio.current_task():
            self._read_task.cancel()
        self._notify("closed")

    def _notify(self, event):
        if self._listener is not None:
            self._listener(self, event)

    def _close_if_drained(self):
        if not self._accepting and not self._pending and not self._closed:
            self._finish(StatusCode.UNAVAILABLE, self._end_of_stream_message())

    # Reader task.

    async def _read_loop(self):
        code, message = StatusCode.UNAVAILABLE, "connection closed by the server"
        try:
            await self._read_server_preface()
            while await self._read_frame():
                pass
            message = self._end_of_stream_message()
        except framing.ProtocolError as error:
            message = f"protocol error: {error.message}"
            if error.send_goaway:
                self.write(framing.encode_goaway(self._next_call_id - 1, error.code,
                                                 error.message))
        except asyncio.IncompleteReadError:
            message = "connection closed in the middle of a frame"
        except asyncio.CancelledError:
            pass  # close(): _finish already ran.
        except ssl.SSLError as error:  # An alert after the handshake (TLS 1.3: mTLS refused).
            message = describe_ssl_error(error, self._tls_hostname)
        except OSError as error:
            message = f"connection lost: {error.strerror or error}"
        except Exception as error:  # pylint: disable=broad-except
            code, message = StatusCode.INTERNAL, f"raw client reader failed: {error!r}"
        finally:
            self._finish(code, message)

    async def _read_server_preface(self):
        try:
            data = await self._reader.readexactly(framing.PREFACE_BYTES)
        except asyncio.IncompleteReadError as error:
            if framing.looks_like_tls(error.partial):
                raise framing.ProtocolError(StatusCode.UNAVAILABLE, framing.TLS_ON_PLAINTEXT,
                                            send_goaway=False) from None
            raise framing.ProtocolError(
                StatusCode.UNAVAILABLE, framing.closed_before_preface(tls=bool(self._tls_hostname)),
                send_goaway=False) from None
        if framing.looks_like_tls(data):
            raise framing.ProtocolError(StatusCode.UNAVAILABLE, framing.TLS_ON_PLAINTEXT,
                                        send_goaway=False)
        self._server_minor = framing.check_preface(data)
        self.last_read_at = asyncio.get_running_loop().time()
        self._preface_received = True
        self._server_preface_read.set()

    async def _read_frame(self):
        try:
            raw_header = await self._reader.readexactly(framing.FRAME_HEADER_BYTES)
        except asyncio.IncompleteReadError as error:
            if not error.partial:
                return False
            raise
        header = framing.decode_frame_header(raw_header)
        self.last_read_at = asyncio.get_running_loop().time()
        handler = self._handlers.get(header.type)
        if handler is None:
            if header.type in (framing.FrameType.REQUEST, framing.FrameType.CANCEL):
                raise framing.ProtocolError(
                    StatusCode.INTERNAL, f"{framing.FrameType(header.type).name} frame from a server")
            raise framing.ProtocolError(StatusCode.UNIMPLEMENTED,
                                        f"unknown frame type {header.type:#04x}")
        connection_level = header.type in (framing.FrameType.PING, framing.FrameType.GOAWAY)
        if connection_level != (header.call_id == 0):
            raise framing.ProtocolError(
                StatusCode.INTERNAL,
                f"call id {header.call_id} on a {framing.FrameType(header.type).name} frame")
        if header.length > self._max_frame_payload:
            if header.type not in (framing.FrameType.RESPONSE, framing.FrameType.MESSAGE):
                raise framing.ProtocolError(StatusCode.RESOURCE_EXHAUSTED,
                                            f"frame payload of {header.length} bytes is over "
                                            f"the limit of {self._max_frame_payload}")
            await self._discard(header.length)
            outcome = _Outcome(StatusCode.RESOURCE_EXHAUSTED,
                               f"response of {header.length} bytes is over the limit of "
                               f"{self._max_message_bytes} bytes")
            if header.type == framing.FrameType.MESSAGE:
                self.abandon(header.call_id, outcome)
            else:
                self._complete(header.call_id, outcome)
            return True
        payload = await self._reader.readexactly(header.length) if header.length else b""
        handler(header, payload)
        return True

    async def _discard(self, size):
        while size > 0:
            size -= len(await self._reader.readexactly(min(size, _DISCARD_CHUNK_BYTES)))

    def _on_response(self, header, payload):
        try:
            response_header, message = framing.decode_response_payload(payload)
        except DecodeError:
            outcome = _Outcome(StatusCode.INTERNAL, "malformed RESPONSE from the server")
        else:
            trailers = tuple(_metadata.from_wire(entry.key, entry.value)
                             for entry in response_header.metadata)
            code = StatusCode.from_number(response_header.status_code)
            if code != StatusCode.OK:
                outcome = _Outcome(code, response_header.status_message, b"", trailers)
            elif len(message) > self._max_message_bytes:
                outcome = _Outcome(StatusCode.RESOURCE_EXHAUSTED,
                                   f"response message of {len(message)} bytes is over the "
                                   f"limit of {self._max_message_bytes} bytes", b"", trailers)
            else:
                outcome = _Outcome(code, "", message, trailers)
        self._complete(header.call_id, outcome)

    def _complete(self, call_id, outcome):
        call = self._pending.pop(call_id, None)
        if call is None:
            return  # Ended here, or never ours: ignored (§4.5).
        call.finish(outcome)
        self._close_if_drained()

    def _on_message(self, header, payload):
        call = self._pending.get(header.call_id)
        if call is None:
            return
        problem = call.on_message(header.flags, payload)
        if problem:
            self.abandon(header.call_id, _Outcome(*problem))

    def _on_window_update(self, header, payload):
        increment = framing.decode_window_update(payload)
        call = self._pending.get(header.call_id)
        if call is not None and call.kind.client_streams:
            call.on_window_update(increment)

    def _on_ping(self, header, payload):
        if len(payload) != framing.PING_PAYLOAD_BYTES:
            raise framing.ProtocolError(StatusCode.INTERNAL,
                                        f"PING with {len(payload)} bytes instead of 8")
        if not header.flags & framing.Flag.ACK:
            self.write(framing.encode_ping(payload, ack=True))
        elif payload == _HEALTH_PING_PAYLOAD:
            self.ping_sent_at = None

    def _on_goaway(self, _header, payload):
        try:
            last_call_id, reason = framing.decode_goaway(payload)
        except DecodeError:
            raise framing.ProtocolError(StatusCode.INTERNAL, "unparseable GOAWAY") from None
        self._accepting = False
        self._goaway = (StatusCode.from_number(reason.status_code), reason.status_message)
        for call_id in [call_id for call_id in self._pending if call_id > last_call_id]:
            self._pending.pop(call_id).finish(_Outcome(
                StatusCode.UNAVAILABLE, f"the server did not process the call: "
                f"{self._goaway_text()}", unsent=True))
        self._notify("goaway")
        self._close_if_drained()

    def _goaway_text(self):
        code, message = self._goaway
        return f"GOAWAY {code.name}" + (f" ({message})" if message else "")

    def _end_of_stream_message(self):
        if self._goaway is None:
            return "connection closed by the server"
        return f"connection closed after {self._goaway_text()}"


class AioRawTransport:
    """Calls of every kind over raw://, on the loop that first uses it."""

    def __init__(self, target, max_message_bytes,
                 connect_timeout=DEFAULT_CONNECT_TIMEOUT_SECONDS, tls=None):
        """tls: as RawTransport's; asyncio's own TLS (ssl=) carries it."""
        self._target = target
        self._max_message_bytes = max_message_bytes
        self._connect_timeout = connect_timeout
        self._tls = tls
        self._connecting = None  # asyncio.Lock, made on the loop.
        self._connection = None
        self._connections = []
        self._closed = False

    async def unary_call(self, method, request, timeout, metadata):
        call = await self._start(method, CallKind.UNARY, request, timeout, metadata)
        return await call.read()

    async def open_stream(self, method, kind, request, requests, timeout, metadata):
        """A streaming call's _AioCall (read, cancel, fail, trailing_metadata);
        for client-streaming kinds a sender task pulls `requests`."""
        call = await self._start(method, kind, request, timeout, metadata)
        if kind.client_streams:
            call.sender = asyncio.get_running_loop().create_task(call.send_requests(requests))
        return call

    async def close(self):
        self._closed = True
        connections, self._connections, self._connection = self._connections, [], None
        for connection in connections:
            await connection.close()

    async def _start(self, method, kind, request, timeout, metadata):
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        for _ in range(_MAX_CONNECTION_ATTEMPTS):
            connection = await self._usable_connection(deadline)
            try:
                return await connection.start_call(method, kind, request, deadline, metadata)
            except _ConnectionRetired:
                continue
        raise RpcError(StatusCode.UNAVAILABLE,
                       f"connections to {self._target.host_port} keep going away")

    async def _usable_connection(self, deadline):
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._closed:
                raise RpcError(StatusCode.CANCELLED, "the client is closed")
            if self._connection is not None and self._connection.accepting_calls:
                return self._connection
            self._connections = [c for c in self._connections if not c.closed]
            reader, writer = await self._open_streams(deadline)
            self._connection = AioRawConnection(
                reader, writer, self._max_message_bytes, self._connect_timeout,
                tls_hostname=self._tls[1] if self._tls is not None else "")
            self._connections.append(self._connection)
            return self._connection

    async def _open_streams(self, deadline):
        return await open_streams(self._target, self._tls, self._connect_timeout, deadline)


async def open_streams(target, tls, connect_timeout, deadline):
    """(reader, writer) of a connection to single-address `target` (`tls`
    as RawTransport's; asyncio's ssl= carries it), within connect_timeout
    cut short by `deadline` (a loop.time()). RpcError DEADLINE_EXCEEDED
    when the deadline passed, UNAVAILABLE otherwise."""
    loop = asyncio.get_running_loop()
    timeout = connect_timeout
    if deadline is not None:
        timeout = min(timeout, deadline - loop.time())
        if timeout <= 0:
            raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded while connecting")
    if target.is_unix:
        opening = asyncio.open_unix_connection(target.unix_path)
    elif tls is not None:
        context, hostname = tls
        opening = asyncio.open_connection(target.socket_host, target.port,
                                          ssl=context, server_hostname=hostname,
                                          ssl_handshake_timeout=timeout)
    else:
        opening = asyncio.open_connection(target.socket_host, target.port)
    try:
        reader, writer = await asyncio.wait_for(opening, timeout)
    except asyncio.TimeoutError:
        step = "while connecting to" if tls is None else \
            "while connecting or in the TLS handshake with"
        if deadline is not None and loop.time() >= deadline:
            raise RpcError(StatusCode.DEADLINE_EXCEEDED,
                           f"deadline exceeded {step} {target.host_port}") from None
        raise RpcError(StatusCode.UNAVAILABLE,
                       f"timed out {step} {target.host_port}") from None
    except ssl.SSLError as error:
        raise RpcError(StatusCode.UNAVAILABLE,
                       describe_ssl_error(error, tls[1])) from None
    except ConnectionResetError as error:
        if tls is None:
            raise RpcError(StatusCode.UNAVAILABLE, f"cannot connect to "
                           f"{target.host_port}: {error.strerror or error}") from None
        raise RpcError(StatusCode.UNAVAILABLE,
                       describe_ssl_error(ssl.SSLEOFError(), tls[1])) from None
    except OSError as error:
        raise RpcError(StatusCode.UNAVAILABLE, f"cannot connect to "
                       f"{target.host_port}: {error.strerror or error}") from None
    sock = writer.get_extra_info("socket")  # None once a TLS transport is closed.
    if not target.is_unix and sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer
