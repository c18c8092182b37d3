"""raw:// — the client side of the raw protocol (docs/PROTOCOL.md).

RawTransport keeps one RawConnection for new calls and opens another when
that one is lost or the server sent GOAWAY; a connection that received
GOAWAY finishes the calls it still owns and then closes itself. Each
RawConnection carries any number of concurrent calls, told apart by call id.

Threads of a RawConnection:
  * callers: start_call() assigns the call id and queues the REQUEST under
    one lock, so ids reach the wire in increasing order (§3.3); each caller
    then waits on its own _PendingCall, at most until its deadline. A
    streaming call (start_stream, §7) is a _StreamCall: its consumer reads
    responses from it, a sender thread of its own pulls the requests.
  * the writer thread is the only one that writes to the socket, so no caller
    and not the reader (answering a PING) ever blocks on another's send.
  * the reader thread is the only one that reads: it completes calls by id,
    answers PING, handles GOAWAY and, however the connection ends, runs the
    one close path (_finish) and then releases the socket. It also hands a
    streaming call's MESSAGE frames to its _StreamCall and applies
    WINDOW_UPDATE.
  * per streaming call: a sender thread (client-streaming and bidi) that
    pulls the application's requests, and a threading.Timer at the deadline.
    A sender blocked inside the application's iterator when the call ends
    stays there until the iterator returns; it then sends nothing more.
"""

import collections
import math
import queue
import socket
import threading
import time
from typing import NamedTuple

from google.protobuf.message import DecodeError

from . import _framing as framing
from . import _metadata
from ._streaming import (StreamFlow, check_final_response, check_streaming_server,
                         preface_wait)
from ._tls import TlsError, TlsSocket
from .status import RpcError, StatusCode

DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
# After a connection error, how long the writer may take to flush what is
# queued (our GOAWAY) before the socket is shut down under it.
_WRITER_DRAIN_SECONDS = 1.0
# The writer joins frames that were queued together into one send, up to this.
_COALESCE_BYTES = 256 * 1024
# An oversized RESPONSE payload is read and dropped in chunks of this size.
_DISCARD_CHUNK_BYTES = 64 * 1024
# Fresh connections one call tries when each goes away before taking it.
_MAX_CONNECTION_ATTEMPTS = 3

_STOP_WRITING = object()
# PING payload of a balancer's health check (§5.2: 8 opaque bytes).
_HEALTH_PING_PAYLOAD = b"dualrpcH"


class _RequestFrame(tuple):
    """A REQUEST frame (header bytes, payload bytes) in the writer's queue,
    carrying its call id so the writer can tell which calls it sent."""

    call_id = 0

    @classmethod
    def of(cls, call_id, chunks):
        frame = cls(chunks)
        frame.call_id = call_id
        return frame


class _Outcome(NamedTuple):
    code: StatusCode
    message: str = ""
    payload: bytes = b""
    trailing_metadata: tuple = ()
    # The call never reached a server (D2): its REQUEST was not written
    # before the connection failed, or a GOAWAY's last_call_id excluded it.
    # A balanced transport sends it again on another backend.
    unsent: bool = False


class _PendingCall:
    """A call awaiting its RESPONSE. Whoever removes it from its connection's
    table (under the connection's lock) finishes it, exactly once."""

    __slots__ = ("_done", "outcome")

    def __init__(self):
        self._done = threading.Event()
        self.outcome = None

    def finish(self, outcome):
        self.outcome = outcome
        self._done.set()

    def wait(self, timeout):
        """True once finished; False if `timeout` seconds passed first."""
        return self._done.wait(timeout)


class _StreamCall:
    """A streaming call (§7) on a RawConnection. Thread-safe.

    Like a _PendingCall, it is finished exactly once, by whoever removes it
    from the connection's table; finish() may queue a last frame (CANCEL)
    under the same lock under which the sender checks that the call is
    still open, so no MESSAGE follows the CANCEL. The consumer (one thread
    at a time) calls read(); the sender thread runs send_requests().
    """

    def __init__(self, connection, kind, max_message_bytes):
        self._connection = connection
        self._cond = threading.Condition()
        # Guarded by _cond.
        self._flow = StreamFlow(kind, max_message_bytes)
        self._responses = collections.deque()  # (message bytes, window cost)
        self._cancelled = False  # By the application: buffered responses are dropped.
        self.outcome = None
        self.call_id = 0  # Set once, before the REQUEST is queued.
        self.deadline_timer = None

    @property
    def kind(self):
        return self._flow.kind

    def finish(self, outcome, last_frame=None):
        """Ends the call with `outcome`; False if it had already ended."""
        with self._cond:
            if self.outcome is not None:
                return False
            problem = check_final_response(self.kind, outcome.code, outcome.payload)
            if problem:
                outcome = _Outcome(*problem, b"", outcome.trailing_metadata)
            elif outcome.code == StatusCode.OK and not self.kind.server_streams:
                self._responses.append((outcome.payload, 0))
            if last_frame is not None:
                self._connection.queue_frame(last_frame)
            self.outcome = outcome
            self._cond.notify_all()
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
        return True

    def on_message(self, flags, payload):
        """A MESSAGE for this call (reader thread): the call error, or None."""
        with self._cond:
            if self.outcome is not None:
                return None
            problem = self._flow.on_message(flags, len(payload))
            if problem is None:
                self._responses.append((payload, framing.message_cost(len(payload))))
                self._cond.notify_all()
            return problem

    def on_window_update(self, increment):
        with self._cond:
            self._flow.on_window_update(increment)
            self._cond.notify_all()

    def read(self):
        """The next response's bytes; None after the last of an OK call.

        Raises RpcError once the call failed (responses that arrived before
        a failure are read first, unless the application cancelled).
        """
        with self._cond:
            while not self._responses and self.outcome is None:
                self._cond.wait()
            if self._responses and not self._cancelled:
                message, cost = self._responses.popleft()
                increment = self._flow.on_consumed(cost) if cost else 0
                if increment and self.outcome is None:
                    self._connection.queue_frame(
                        framing.encode_window_update(self.call_id, increment))
                return message
            outcome = self.outcome
        if outcome.code == StatusCode.OK:
            return None
        raise RpcError(outcome.code, outcome.message, outcome.trailing_metadata)

    def cancel(self):
        """Ends the call with CANCELLED and sends CANCEL; False if it had ended."""
        with self._cond:
            if self.outcome is None:
                self._cancelled = True
        return self.fail(StatusCode.CANCELLED, "cancelled by the client")

    def fail(self, code, message):
        """A local failure: ends the call with `code` and sends CANCEL."""
        return self._connection.abandon(self.call_id, _Outcome(code, message))

    def done(self):
        with self._cond:
            return self.outcome is not None

    def trailing_metadata(self):
        with self._cond:
            return None if self.outcome is None else self.outcome.trailing_metadata

    def send_requests(self, requests):
        """Sender thread: pulls each request (bytes) only when the previous
        one is sent and the call is open, waits for window, then half-closes.
        An exception from `requests` fails the call (RpcError keeps its code)."""
        try:
            for request in requests:
                with self._cond:
                    while self.outcome is None and not self._flow.can_send():
                        self._cond.wait()
                    if self.outcome is not None:
                        return
                    self._flow.on_sent(len(request))
                    self._connection.queue_frame(framing.encode_message(self.call_id, request))
                if self.done():
                    return
            with self._cond:
                if self.outcome is None:
                    self._connection.queue_frame(framing.encode_half_close(self.call_id))
        except RpcError as error:
            self.fail(error.code, error.message)
        except Exception as error:  # pylint: disable=broad-except
            self.fail(StatusCode.CANCELLED, f"the request iterator raised {error!r}")


class _ConnectionRetired(Exception):
    """The connection takes no new calls (GOAWAY, closed, or ids used up)."""


class _Truncated(Exception):
    """End of stream inside a frame or the preface."""


def _timeout_micros(deadline):
    """A REQUEST's timeout_micros for a time.monotonic() deadline (None: 0)."""
    if deadline is None:
        return 0
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before sending")
    return max(1, math.ceil(remaining * 1e6))


class RawConnection:
    """One TCP connection speaking the raw protocol. Thread-safe.

    Owns its socket and its two threads; the socket is closed by the reader
    thread when it exits, after the writer stopped.
    """

    def __init__(self, sock, max_message_bytes, name,
                 preface_timeout=DEFAULT_CONNECT_TIMEOUT_SECONDS, listener=None):
        """preface_timeout: longest a streaming call waits for the server's
        preface (§7.1) when its deadline is later.

        listener: None, or listener(connection, event) called once per
        event, on whichever thread saw it, with no lock of this connection
        held: "goaway" when the server sent GOAWAY (no new calls), "closed"
        when the connection ended (after its waiting calls were failed).
        It must not call close() (which may join the calling thread)."""
        self._sock = sock
        self._listener = listener
        self._preface_timeout = preface_timeout
        self._input = sock.makefile("rb")
        self._max_message_bytes = max_message_bytes
        self._max_frame_payload = framing.max_frame_payload(max_message_bytes)
        self._lock = threading.Lock()
        # Guarded by _lock.
        self._pending = {}  # call id -> _PendingCall
        self._next_call_id = 1
        self._accepting = True
        self._closed = False
        self._goaway = None  # (StatusCode, message) once the server sent GOAWAY.
        self._close_reason = None  # (StatusCode, message) once closed.
        self._failed_with_calls = False  # Closed by a failure while calls waited.
        # The highest call id whose REQUEST the writer started to send;
        # calls above it never left this client (D2's unsent calls).
        self._writing_call_id = 0
        # Health check (written by the reader and the balancer's thread;
        # single float assignments). last_read_at: time.monotonic() of the
        # last frame read (or of the connect); ping_sent_at: of the health
        # PING not yet answered, or None.
        self.last_read_at = time.monotonic()
        self.ping_sent_at = None
        # Set by the reader once the server's preface is read (or the
        # connection closed); _server_minor is written before it is set.
        self._server_preface_read = threading.Event()
        self._server_minor = 0
        self._preface_received = False  # Guarded by _lock.
        # Items: bytes, a tuple of bytes (one frame), or _STOP_WRITING.
        self._outgoing = queue.SimpleQueue()
        self._outgoing.put(framing.PREFACE)  # §2: a client may send frames right after it.
        self._handlers = {
            framing.FrameType.RESPONSE: self._on_response,
            framing.FrameType.PING: self._on_ping,
            framing.FrameType.GOAWAY: self._on_goaway,
            framing.FrameType.REQUEST: self._on_client_only_frame,
            framing.FrameType.CANCEL: self._on_client_only_frame,
            framing.FrameType.MESSAGE: self._on_message,
            framing.FrameType.WINDOW_UPDATE: self._on_window_update,
        }
        self._writer = threading.Thread(target=self._write_loop, name=f"{name}-writer", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name=f"{name}-reader", daemon=True)
        self._writer.start()
        self._reader.start()

    @property
    def accepting_calls(self):
        with self._lock:
            return self._accepting

    @property
    def closed(self):
        with self._lock:
            return self._closed

    @property
    def failed_with_calls(self):
        """True once closed by a failure (not close()) with calls waiting."""
        with self._lock:
            return self._failed_with_calls

    @property
    def close_message(self):
        with self._lock:
            return "" if self._close_reason is None else self._close_reason[1]

    def wait_for_preface(self, timeout):
        """True once the server's preface arrived on an open connection;
        False if `timeout` seconds passed first or the connection closed."""
        if not self._server_preface_read.wait(timeout):
            return False
        with self._lock:
            return self._preface_received and not self._closed

    def send_health_ping(self):
        """Queues a PING (§5.2) and notes when; the ACK clears ping_sent_at."""
        self.ping_sent_at = time.monotonic()
        self._outgoing.put(framing.encode_ping(_HEALTH_PING_PAYLOAD, ack=False))

    def fail(self, message):
        """Ends the connection as a failure (UNAVAILABLE `message`): a health
        check that got no PONG. Unlike close(), joins no thread."""
        self._finish(StatusCode.UNAVAILABLE, message)
        self._shutdown_socket()

    def start_call(self, method, message, deadline, metadata):
        """Queues a unary REQUEST; returns (call id, _PendingCall).

        `deadline` is a time.monotonic() value or None. Raises
        _ConnectionRetired if this connection takes no new calls, RpcError if
        the call cannot be sent at all.
        """
        timeout_micros = _timeout_micros(deadline)
        try:
            payload = framing.encode_call_payload(
                framing.request_header(method, timeout_micros, metadata), message)
        except framing.CallHeaderTooLarge as error:
            raise RpcError(StatusCode.RESOURCE_EXHAUSTED, str(error)) from None
        call = _PendingCall()
        with self._lock:
            if not self._accepting:
                self._raise_retired_locked()
            call_id = self._next_call_id
            self._next_call_id += 1
            if call_id == framing.MAX_CALL_ID:
                self._accepting = False
            self._pending[call_id] = call
            self._outgoing.put(_RequestFrame.of(
                call_id, (framing.encode_request(call_id, payload), payload)))
        return call_id, call

    def start_stream(self, method, kind, request, deadline, metadata):
        """Opens a streaming call of `kind`; returns its _StreamCall.

        `request`: the one request (bytes) of a server-streaming call, None
        for the others, whose requests the caller then passes to
        send_requests(). Waits for the server's preface first (§7.1), until
        `deadline` or preface_timeout. Raises _ConnectionRetired or RpcError
        like start_call.
        """
        remaining = None if deadline is None else deadline - time.monotonic()
        wait, code, message = preface_wait(remaining, self._preface_timeout)
        if not self._server_preface_read.wait(wait):
            raise RpcError(code, message)
        with self._lock:
            if self._close_reason is not None and self._server_minor == 0:
                raise RpcError(*self._close_reason)
        problem = check_streaming_server(self._server_minor)
        if problem:
            raise RpcError(*problem)
        timeout_micros = _timeout_micros(deadline)
        try:
            payload = framing.encode_call_payload(
                framing.request_header(method, timeout_micros, metadata), request or b"")
        except framing.CallHeaderTooLarge as error:
            raise RpcError(StatusCode.RESOURCE_EXHAUSTED, str(error)) from None
        call = _StreamCall(self, kind, self._max_message_bytes)
        with self._lock:
            if not self._accepting:
                self._raise_retired_locked()
            call.call_id = self._next_call_id
            self._next_call_id += 1
            if call.call_id == framing.MAX_CALL_ID:
                self._accepting = False
            self._pending[call.call_id] = call
            encode = framing.encode_stream_request if kind.client_streams else \
                framing.encode_request
            self._outgoing.put(_RequestFrame.of(call.call_id,
                                                (encode(call.call_id, payload), payload)))
        if deadline is not None and not call.done():
            call.deadline_timer = threading.Timer(
                max(0.0, deadline - time.monotonic()), self.abandon,
                (call.call_id, _Outcome(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")))
            call.deadline_timer.daemon = True
            call.deadline_timer.start()
        return call

    def _raise_retired_locked(self):
        """Raises _ConnectionRetired (the caller tries a new connection),
        or, for a connection the server closed before its preface (e.g. a
        TLS server refusing the client certificate), RpcError with the
        reason: a new connection would only be refused again."""
        if self._close_reason is not None and not self._preface_received:
            raise RpcError(*self._close_reason)
        raise _ConnectionRetired()

    def queue_frame(self, frame):
        """Queues bytes (or a tuple of bytes: one frame) for the writer."""
        self._outgoing.put(frame)

    def abandon(self, call_id, outcome=None):
        """Forgets a call and sends CANCEL (§4.5): its deadline passed, or
        (with `outcome`) a streaming call failed on this side (§7.5).

        Returns False if the call had already finished: its outcome stands.
        """
        with self._lock:
            call = self._pending.pop(call_id, None)
            if call is None:
                return False
            streaming = isinstance(call, _StreamCall)
            if not streaming:
                self._outgoing.put(framing.encode_cancel(call_id))
            drained = self._drained_locked()
        if streaming:
            call.finish(outcome or _Outcome(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"),
                        framing.encode_cancel(call_id))
        elif outcome is not None:
            call.finish(outcome)
        if drained:
            self._shutdown_socket()
        return True

    def close(self, message="the client is closed"):
        """Fails the calls still waiting with CANCELLED and ends the connection."""
        self._finish(StatusCode.CANCELLED, message)
        self._shutdown_socket()
        if threading.current_thread() is not self._reader:
            self._reader.join()

    # The one close path.

    def _finish(self, code, message):
        """Takes no more calls and fails every waiting call (marking those
        whose REQUEST was never written as unsent). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_reason = (code, message)
            self._accepting = False
            self._failed_with_calls = bool(self._pending) and code != StatusCode.CANCELLED
            doomed = list(self._pending.items())
            self._pending.clear()
            writing_call_id = self._writing_call_id
        self._server_preface_read.set()  # Streams waiting for it see the close.
        self._outgoing.put(_STOP_WRITING)
        for call_id, call in doomed:
            call.finish(_Outcome(code, message, unsent=call_id > writing_call_id))
        self._notify("closed")

    def _notify(self, event):
        if self._listener is not None:
            self._listener(self, event)

    def _drained_locked(self):
        """After GOAWAY (or the last call id), the last call finished."""
        return not self._accepting and not self._pending and not self._closed

    def _shutdown_socket(self):
        # Wakes the reader (EOF) and the writer (EPIPE); the fd stays open
        # until the reader closes it, so no thread ever uses a reused fd.
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # Writer thread.

    def _write_loop(self):
        while True:
            chunks, size, stop, last_call_id = [], 0, False, 0
            item = self._outgoing.get()
            while True:
                if item is _STOP_WRITING:
                    stop = True
                    break
                if isinstance(item, _RequestFrame):
                    last_call_id = item.call_id
                for chunk in item if isinstance(item, tuple) else (item,):
                    chunks.append(chunk)
                    size += len(chunk)
                if size >= _COALESCE_BYTES:
                    break
                try:
                    item = self._outgoing.get_nowait()
                except queue.Empty:
                    break
            if last_call_id:
                # Before the send: a REQUEST partly written counts as sent.
                with self._lock:
                    self._writing_call_id = last_call_id
            try:
                if chunks:
                    self._sock.sendall(b"".join(chunks))
            except OSError as error:
                # Before the server's preface, what the server sent (a TLS
                # alert: client certificate required) says more than our
                # EPIPE; the reader reads it and closes, or this goes on.
                self._server_preface_read.wait(_WRITER_DRAIN_SECONDS)
                self._finish(StatusCode.UNAVAILABLE, f"connection lost: {error.strerror or error}")
                self._shutdown_socket()
                return
            if stop:
                return

    # Reader thread.

    def _read_loop(self):
        code, message = StatusCode.UNAVAILABLE, "connection closed by the server"
        try:
            self._check_server_preface()
            while self._read_frame():
                pass
            message = self._end_of_stream_message()
        except framing.ProtocolError as error:
            message = f"protocol error: {error.message}"
            if error.send_goaway:
                self._outgoing.put(
                    framing.encode_goaway(self._last_call_id(), error.code, error.message))
        except _Truncated:
            message = "connection closed in the middle of a frame"
        except TlsError as error:
            message = error.message
        except OSError as error:
            message = f"connection lost: {error.strerror or error}"
        except Exception as error:  # A bug here must not leave callers waiting.
            code, message = StatusCode.INTERNAL, f"raw client reader failed: {error!r}"
        finally:
            self._finish(code, message)
            self._writer.join(_WRITER_DRAIN_SECONDS)
            self._shutdown_socket()
            self._writer.join()
            self._input.close()
            self._sock.close()

    def _read_exactly(self, size):
        data = self._input.read(size)
        if len(data) != size:
            raise _Truncated()
        return data

    def _check_server_preface(self):
        data = self._input.read(framing.PREFACE_BYTES)
        if framing.looks_like_tls(data):
            raise framing.ProtocolError(StatusCode.UNAVAILABLE, framing.TLS_ON_PLAINTEXT,
                                        send_goaway=False)
        if len(data) != framing.PREFACE_BYTES:
            raise framing.ProtocolError(
                StatusCode.UNAVAILABLE, framing.closed_before_preface(
                    tls=isinstance(self._sock, TlsSocket)), send_goaway=False)
        self._server_minor = framing.check_preface(data)
        with self._lock:
            self._preface_received = True
        self._server_preface_read.set()

    def _read_frame(self):
        """Reads and handles one frame; False at a clean end of stream."""
        raw_header = self._input.read(framing.FRAME_HEADER_BYTES)
        if not raw_header:
            return False
        if len(raw_header) != framing.FRAME_HEADER_BYTES:
            raise _Truncated()
        header = framing.decode_frame_header(raw_header)
        self.last_read_at = time.monotonic()
        handler = self._handlers.get(header.type)
        if handler is None:
            raise framing.ProtocolError(StatusCode.UNIMPLEMENTED,
                                        f"unknown frame type {header.type:#04x}")
        connection_level = header.type in (framing.FrameType.PING, framing.FrameType.GOAWAY)
        if connection_level != (header.call_id == 0):
            raise framing.ProtocolError(
                StatusCode.INTERNAL,
                f"call id {header.call_id} on a {framing.FrameType(header.type).name} frame")
        # §4.3: check the declared length before reading (or allocating) anything.
        if header.length > self._max_frame_payload:
            if header.type == framing.FrameType.MESSAGE:
                self._discard(header.length)
                self.abandon(header.call_id, _Outcome(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"response message of {header.length} bytes is over the limit of "
                    f"{self._max_message_bytes} bytes"))
                return True
            if header.type != framing.FrameType.RESPONSE:
                raise framing.ProtocolError(StatusCode.RESOURCE_EXHAUSTED,
                                            f"frame payload of {header.length} bytes is over "
                                            f"the limit of {self._max_frame_payload}")
            self._discard(header.length)
            self._complete(header.call_id, _Outcome(
                StatusCode.RESOURCE_EXHAUSTED,
                f"response of {header.length} bytes is over the limit of "
                f"{self._max_message_bytes} bytes"))
            return True
        handler(header, self._read_exactly(header.length))
        return True

    def _discard(self, size):
        while size > 0:
            size -= len(self._read_exactly(min(size, _DISCARD_CHUNK_BYTES)))

    def _on_response(self, header, payload):
        try:
            response_header, message = framing.decode_response_payload(payload)
        except DecodeError:
            outcome = _Outcome(StatusCode.INTERNAL, "malformed RESPONSE from the server")
        else:
            outcome = self._outcome_of(response_header, message)
        self._complete(header.call_id, outcome)

    def _outcome_of(self, response_header, message):
        metadata = tuple(_metadata.from_wire(entry.key, entry.value)
                         for entry in response_header.metadata)
        code = StatusCode.from_number(response_header.status_code)
        if code != StatusCode.OK:
            return _Outcome(code, response_header.status_message, b"", metadata)
        if len(message) > self._max_message_bytes:
            return _Outcome(StatusCode.RESOURCE_EXHAUSTED,
                            f"response message of {len(message)} bytes is over the limit of "
                            f"{self._max_message_bytes} bytes", b"", metadata)
        return _Outcome(code, "", message, metadata)

    def _complete(self, call_id, outcome):
        with self._lock:
            call = self._pending.pop(call_id, None)
            drained = call is not None and self._drained_locked()
        if call is None:
            return  # Cancelled by its deadline, or never ours: ignored (§4.5).
        call.finish(outcome)
        if drained:
            self._shutdown_socket()

    def _on_ping(self, header, payload):
        if len(payload) != framing.PING_PAYLOAD_BYTES:
            raise framing.ProtocolError(StatusCode.INTERNAL,
                                        f"PING with {len(payload)} bytes instead of 8")
        if not header.flags & framing.Flag.ACK:
            self._outgoing.put(framing.encode_ping(payload, ack=True))
        elif payload == _HEALTH_PING_PAYLOAD:
            self.ping_sent_at = None

    def _on_goaway(self, _header, payload):
        try:
            last_call_id, reason = framing.decode_goaway(payload)
        except DecodeError:
            raise framing.ProtocolError(StatusCode.INTERNAL, "unparseable GOAWAY") from None
        code = StatusCode.from_number(reason.status_code)
        with self._lock:
            self._accepting = False
            self._goaway = (code, reason.status_message)
            unprocessed = [call_id for call_id in self._pending if call_id > last_call_id]
            doomed = [self._pending.pop(call_id) for call_id in unprocessed]
            drained = self._drained_locked()
        for call in doomed:
            call.finish(_Outcome(StatusCode.UNAVAILABLE,
                                 f"the server did not process the call: {self._goaway_text()}",
                                 unsent=True))
        self._notify("goaway")
        if drained:
            self._shutdown_socket()

    def _on_message(self, header, payload):
        with self._lock:
            call = self._pending.get(header.call_id)
        if call is None:
            return  # Ended here (deadline, cancel) or never ours: ignored (§7.5).
        if isinstance(call, _StreamCall):
            problem = call.on_message(header.flags, payload)
        else:
            problem = (StatusCode.INTERNAL, "MESSAGE from the server on a UNARY call")
        if problem:
            self.abandon(header.call_id, _Outcome(*problem))

    def _on_window_update(self, header, payload):
        increment = framing.decode_window_update(payload)
        with self._lock:
            call = self._pending.get(header.call_id)
        if isinstance(call, _StreamCall) and call.kind.client_streams:
            call.on_window_update(increment)

    def _on_client_only_frame(self, header, _payload):
        raise framing.ProtocolError(
            StatusCode.INTERNAL, f"{framing.FrameType(header.type).name} frame from a server")

    def _goaway_text(self):
        code, message = self._goaway
        return f"GOAWAY {code.name}" + (f" ({message})" if message else "")

    def _end_of_stream_message(self):
        with self._lock:
            if self._goaway is None:
                return "connection closed by the server"
        return f"connection closed after {self._goaway_text()}"

    def _last_call_id(self):
        with self._lock:
            return self._next_call_id - 1


class RawTransport:
    """Unary calls over raw://, many at once on one connection. Thread-safe."""

    def __init__(self, target, max_message_bytes,
                 connect_timeout=DEFAULT_CONNECT_TIMEOUT_SECONDS, tls=None):
        """tls: for raws://, (ssl.SSLContext, server hostname); connect_timeout
        then bounds the TCP connect and the TLS handshake together."""
        self._target = target
        self._max_message_bytes = max_message_bytes
        self._connect_timeout = connect_timeout
        self._tls = tls
        # Held while connecting, so that concurrent first calls share one
        # connection. Guards the fields below.
        self._lock = threading.Lock()
        self._connection = None  # Where new calls go.
        self._connections = []  # Every connection not known closed, for close().
        self._closed = False

    def unary_call(self, method, request, timeout, metadata):
        """Sends `request` bytes, returns the response bytes or raises RpcError.

        `timeout`: seconds (> 0) or None; `metadata`: normalized pairs.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        connection, call_id, call = self._start_call(method, request, deadline, metadata)
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not call.wait(remaining) and connection.abandon(call_id):
            raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
        call.wait(None)  # Finished, possibly just as the deadline passed.
        outcome = call.outcome
        if outcome.code != StatusCode.OK:
            raise RpcError(outcome.code, outcome.message, outcome.trailing_metadata)
        return outcome.payload

    def open_stream(self, method, kind, request, requests, timeout, metadata):
        """Starts a streaming call; returns its stream (read, cancel, fail,
        trailing_metadata). `request`: the bytes of a server-streaming
        call's one request; `requests`: an iterable of request bytes for
        client-streaming and bidi calls, pulled lazily by a sender thread.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for _ in range(_MAX_CONNECTION_ATTEMPTS):
            connection = self._usable_connection(deadline)
            try:
                call = connection.start_stream(method, kind, request, deadline, metadata)
            except _ConnectionRetired:
                continue
            if kind.client_streams:
                threading.Thread(target=call.send_requests, args=(requests,),
                                 name=f"dualrpc-raw-sender-{call.call_id}", daemon=True).start()
            return call
        raise RpcError(StatusCode.UNAVAILABLE,
                       f"connections to {self._target.host_port} keep going away")

    def close(self):
        with self._lock:
            self._closed = True
            connections, self._connections, self._connection = self._connections, [], None
        for connection in connections:
            connection.close()

    def _start_call(self, method, request, deadline, metadata):
        for _ in range(_MAX_CONNECTION_ATTEMPTS):
            connection = self._usable_connection(deadline)
            try:
                call_id, call = connection.start_call(method, request, deadline, metadata)
            except _ConnectionRetired:
                continue
            return connection, call_id, call
        raise RpcError(StatusCode.UNAVAILABLE,
                       f"connections to {self._target.host_port} keep going away")

    def _usable_connection(self, deadline):
        with self._lock:
            if self._closed:
                raise RpcError(StatusCode.CANCELLED, "the client is closed")
            if self._connection is not None and self._connection.accepting_calls:
                return self._connection
            self._connections = [c for c in self._connections if not c.closed]
            self._connection = RawConnection(self._connect_socket(deadline),
                                             self._max_message_bytes,
                                             f"dualrpc-raw-{self._target.host_port}",
                                             self._connect_timeout)
            self._connections.append(self._connection)
            return self._connection

    def _connect_socket(self, deadline):
        return connect_socket(self._target, self._tls, self._connect_timeout, deadline)


def connect_socket(target, tls, connect_timeout, deadline):
    """A connected socket to single-address `target` (a TlsSocket for
    raws://, its handshake done; `tls` as RawTransport's); the connect and
    the handshake share connect_timeout, cut short by `deadline`. RpcError
    DEADLINE_EXCEEDED when the deadline passed, UNAVAILABLE otherwise."""
    timeout = connect_timeout
    if deadline is not None:
        timeout = min(timeout, deadline - time.monotonic())
        if timeout <= 0:
            raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded while connecting")
    started = time.monotonic()
    step = "while connecting to"
    try:
        sock = _open_socket(target, timeout)
        if not target.is_unix:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            step = "in the TLS handshake with"
            context, hostname = tls
            sock = TlsSocket(sock, context, hostname,
                             max(0.001, timeout - (time.monotonic() - started)))
    except TimeoutError:
        if deadline is not None and time.monotonic() >= deadline:
            raise RpcError(StatusCode.DEADLINE_EXCEEDED,
                           f"deadline exceeded {step} {target.host_port}") from None
        raise RpcError(StatusCode.UNAVAILABLE, f"timed out {step} "
                       f"{target.host_port}") from None
    except OSError as error:
        raise RpcError(StatusCode.UNAVAILABLE, f"cannot connect to "
                       f"{target.host_port}: {error.strerror or error}") from None
    sock.settimeout(None)
    return sock


def _open_socket(target, timeout):
    """A connected socket to the target: TCP, or a unix stream socket (the
    raw protocol runs unchanged over either). OSError or TimeoutError."""
    if not target.is_unix:
        return socket.create_connection((target.socket_host, target.port),
                                        timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(target.unix_path)
    except BaseException:
        sock.close()
        raise
    return sock
