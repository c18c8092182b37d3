"""Call kinds and a raw streaming call's per-call bookkeeping (docs/PROTOCOL.md
§7.2, §7.4, §7.5), shared by the threaded (_raw_transport) and the asyncio
(aio/_raw_transport) connections. No I/O, no locks: its owner serializes
access (a lock, or the event loop).
"""

import enum

from . import _framing as framing
from .status import StatusCode


class CallKind(enum.Enum):
    """A method's kind, from its .proto; both sides know it (§7)."""
    UNARY = (False, False)
    SERVER_STREAMING = (False, True)
    CLIENT_STREAMING = (True, False)
    BIDI_STREAMING = (True, True)

    @property
    def client_streams(self):
        """Requests go as MESSAGE frames after a header-only REQUEST."""
        return self.value[0]

    @property
    def server_streams(self):
        """Responses come as MESSAGE frames before an empty RESPONSE."""
        return self.value[1]


class StreamFlow:
    """Both windows of one call and the checks on what the server sends.

    send_window: what the server lets us send (§7.4); we send a MESSAGE only
      while it is > 0. recv_window: what the server may still send us; it
      grows only as the application consumes responses (on_consumed).
    """

    def __init__(self, kind, max_message_bytes):
        self.kind = kind
        self._max_message_bytes = max_message_bytes
        self.send_window = framing.INITIAL_STREAM_WINDOW
        self.recv_window = framing.INITIAL_STREAM_WINDOW
        self._unreturned = 0  # Consumed, not yet returned with WINDOW_UPDATE.

    def can_send(self):
        return self.send_window > 0

    def on_sent(self, message_length):
        self.send_window -= framing.message_cost(message_length)

    def on_window_update(self, increment):
        """Raises ProtocolError (a connection error) past the maximum window."""
        if self.send_window + increment > framing.MAX_STREAM_WINDOW:
            raise framing.ProtocolError(StatusCode.INTERNAL,
                                        "WINDOW_UPDATE takes the window above 2^31-1")
        self.send_window += increment

    def on_message(self, flags, payload_length):
        """Accounts an incoming MESSAGE. Returns None to accept it, else the
        call error (code, message) with which the client fails the call and
        sends CANCEL (§7.5)."""
        if not self.kind.server_streams:
            return (StatusCode.INTERNAL, f"MESSAGE from the server on a {self.kind.name} call")
        if flags & framing.Flag.END_STREAM:
            return (StatusCode.INTERNAL, "MESSAGE with END_STREAM from the server")
        if flags & framing.Flag.COMPRESSED:
            return (StatusCode.UNIMPLEMENTED, "compressed MESSAGE from the server")
        if self.recv_window <= 0:
            return (StatusCode.RESOURCE_EXHAUSTED, "flow control window exceeded")
        self.recv_window -= framing.message_cost(payload_length)
        if payload_length > self._max_message_bytes:
            return (StatusCode.RESOURCE_EXHAUSTED,
                    f"response message of {payload_length} bytes is over the limit of "
                    f"{self._max_message_bytes} bytes")
        return None

    def on_consumed(self, cost):
        """The application took a response of `cost`; returns the increment
        of a WINDOW_UPDATE to send now, or 0."""
        self._unreturned += cost
        if self._unreturned < framing.WINDOW_UPDATE_THRESHOLD:
            return 0
        increment, self._unreturned = self._unreturned, 0
        self.recv_window += increment
        return increment


def check_streaming_server(minor_version):
    """The local failure of a streaming call on a 1.0 connection (§7.1), or None."""
    if minor_version >= 1:
        return None
    return (StatusCode.UNIMPLEMENTED,
            "the server speaks raw protocol 1.0, which has no streaming calls")


def preface_wait(remaining, preface_timeout):
    """(seconds, code, message): how long a streaming call waits for the
    server's preface (§7.1) given the call's `remaining` time (None: no
    deadline) and the connect timeout, and how it fails if none comes."""
    if remaining is not None and remaining <= preface_timeout:
        return (max(0.0, remaining), StatusCode.DEADLINE_EXCEEDED,
                "deadline exceeded waiting for the server's preface")
    return (preface_timeout, StatusCode.UNAVAILABLE,
            f"no server preface within the connect timeout of {preface_timeout:g} s")


def check_final_response(kind, outcome_code, message):
    """A RESPONSE of a server-streaming or bidi call must carry no message
    (§7.2): the call error for one that does, or None."""
    if outcome_code == StatusCode.OK and kind.server_streams and message:
        return (StatusCode.INTERNAL, "RESPONSE of a streaming call carries a message")
    return None
