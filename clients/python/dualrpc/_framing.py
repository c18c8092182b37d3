"""The raw protocol's codec (docs/PROTOCOL.md §2–§5.5, §7): bytes in, bytes out.

Knows nothing of sockets or threads; the connection (_raw_transport) uses it.
Every integer on the wire is unsigned big-endian.
"""

import dataclasses
import enum
import struct

from google.protobuf.message import DecodeError

from .status import StatusCode
from .wire.v1 import wire_pb2

PREFACE_MAGIC = b"DRPC"
PROTOCOL_MAJOR = 1
# 1.1: streaming calls (§7). Unary frames are byte for byte 1.0's.
PROTOCOL_MINOR = 1
PREFACE = PREFACE_MAGIC + bytes([PROTOCOL_MAJOR, PROTOCOL_MINOR, 0, 0])
PREFACE_BYTES = len(PREFACE)

# payload length, type, flags, reserved, call id (§3).
_FRAME_HEADER = struct.Struct(">IBBHI")
FRAME_HEADER_BYTES = _FRAME_HEADER.size
# The u32 before a call header (§4.1) and before GOAWAY's ResponseHeader (§5.5).
_U32 = struct.Struct(">I")

# Limits (§4.3). The message limit is the client's option; these are fixed.
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_CALL_HEADER_BYTES = 16 * 1024
PING_PAYLOAD_BYTES = 8
MAX_CALL_ID = 0xFFFFFFFF
# timeout_micros above this means "no deadline" to the server (§4.1).
MAX_TIMEOUT_MICROS = 315_360_000_000_000
# Flow control (§7.4): each direction of a streaming call starts with this
# window; a receiver returns credit once the consumed bytes reach half of it.
INITIAL_STREAM_WINDOW = 65_536
WINDOW_UPDATE_THRESHOLD = INITIAL_STREAM_WINDOW // 2
MAX_STREAM_WINDOW = 0x7FFFFFFF
WINDOW_UPDATE_PAYLOAD_BYTES = 4


class FrameType(enum.IntEnum):
    REQUEST = 0x01
    RESPONSE = 0x02
    CANCEL = 0x03
    PING = 0x04
    GOAWAY = 0x05
    MESSAGE = 0x06
    WINDOW_UPDATE = 0x07


class Flag(enum.IntFlag):
    END_STREAM = 0x01
    COMPRESSED = 0x02
    ACK = 0x80


class ProtocolError(Exception):
    """The peer broke the protocol: a connection error (§6.3).

    `code` is what a GOAWAY to the peer carries; `send_goaway` is False when
    the peer does not speak the protocol at all (wrong preface).
    """

    def __init__(self, code, message, send_goaway=True):
        super().__init__(message)
        self.code = code
        self.message = message
        self.send_goaway = send_goaway


class CallHeaderTooLarge(Exception):
    """A call header over MAX_CALL_HEADER_BYTES (too much metadata)."""


@dataclasses.dataclass(frozen=True)
class FrameHeader:
    length: int
    type: int  # A FrameType value, or an unknown number.
    flags: int
    call_id: int


def max_frame_payload(max_message_bytes):
    """The largest frame payload a peer may send (§4.3)."""
    return max_message_bytes + MAX_CALL_HEADER_BYTES + _U32.size


# A TLS record starts with its content type (20..24: change_cipher_spec,
# alert, handshake, application_data, heartbeat) and major version 3.
_TLS_RECORD_TYPES = range(20, 25)
TLS_ON_PLAINTEXT = ("the server answered with TLS, not the dualrpc preface (a TLS port? "
                    "then use raws://)")


def closed_before_preface(tls):
    """The error of a connection that ended before the server's preface;
    over plaintext, what a TLS port does to a plaintext client."""
    message = "the server closed the connection before its preface"
    return message if tls else message + " (a TLS port? then use raws://)"


def looks_like_tls(data):
    """True if the server's first bytes are a TLS record, e.g. the alert a
    TLS server sends a plaintext client."""
    return len(data) >= 2 and data[0] in _TLS_RECORD_TYPES and data[1] == 3


def check_preface(data):
    """The server's minor version; raises ProtocolError unless `data` is a
    version-1 preface (§2)."""
    if data[:4] != PREFACE_MAGIC:
        raise ProtocolError(StatusCode.UNAVAILABLE,
                            "the server does not speak the dualrpc framed protocol",
                            send_goaway=False)
    if data[4] != PROTOCOL_MAJOR:
        raise ProtocolError(StatusCode.UNAVAILABLE,
                            f"the server speaks protocol {data[4]}.{data[5]}, "
                            f"this client {PROTOCOL_MAJOR}.{PROTOCOL_MINOR}",
                            send_goaway=False)
    return data[5]


def encode_frame_header(frame_type, flags, call_id, length):
    return _FRAME_HEADER.pack(length, frame_type, flags, 0, call_id)


def decode_frame_header(data):
    length, frame_type, flags, _reserved, call_id = _FRAME_HEADER.unpack(data)
    return FrameHeader(length, frame_type, flags, call_id)


def encode_call_payload(header, message):
    """u32 header length + header + message (§4.1, §4.2)."""
    header_bytes = header.SerializeToString()
    if len(header_bytes) > MAX_CALL_HEADER_BYTES:
        raise CallHeaderTooLarge(f"call header of {len(header_bytes)} bytes exceeds "
                                 f"the limit of {MAX_CALL_HEADER_BYTES} bytes")
    return b"".join((_U32.pack(len(header_bytes)), header_bytes, message))


def request_header(method, timeout_micros, metadata):
    """A RequestHeader; `metadata` holds (key, str-or-bytes) pairs."""
    header = wire_pb2.RequestHeader(method=method,
                                    timeout_micros=min(timeout_micros, MAX_TIMEOUT_MICROS))
    for key, value in metadata:
        header.metadata.add(key=key, value=value.encode("ascii") if isinstance(value, str) else value)
    return header


def encode_request(call_id, payload):
    """The 12-byte header of a unary REQUEST carrying `payload`."""
    return encode_frame_header(FrameType.REQUEST, Flag.END_STREAM, call_id, len(payload))


def encode_stream_request(call_id, payload):
    """The header of a REQUEST that opens a client-streaming or bidi call:
    no END_STREAM, `payload` is the call header only (§7.2)."""
    return encode_frame_header(FrameType.REQUEST, 0, call_id, len(payload))


def message_cost(payload_length):
    """What a MESSAGE without END_STREAM takes from its call's window (§7.4)."""
    return FRAME_HEADER_BYTES + payload_length


def encode_message(call_id, message):
    """(header, message): one request of a streaming call (§7.2)."""
    return encode_frame_header(FrameType.MESSAGE, 0, call_id, len(message)), message


def encode_half_close(call_id):
    """MESSAGE with END_STREAM and no payload: the end of the requests."""
    return encode_frame_header(FrameType.MESSAGE, Flag.END_STREAM, call_id, 0)


def encode_window_update(call_id, increment):
    return (encode_frame_header(FrameType.WINDOW_UPDATE, 0, call_id, _U32.size)
            + _U32.pack(increment))


def decode_window_update(payload):
    """The increment; ProtocolError INTERNAL unless 4 bytes of 1..2^31-1 (§7.5)."""
    if len(payload) != WINDOW_UPDATE_PAYLOAD_BYTES:
        raise ProtocolError(StatusCode.INTERNAL,
                            f"WINDOW_UPDATE with {len(payload)} bytes instead of 4")
    (increment,) = _U32.unpack(payload)
    if not 1 <= increment <= MAX_STREAM_WINDOW:
        raise ProtocolError(StatusCode.INTERNAL, f"WINDOW_UPDATE increment {increment:#x}")
    return increment


def _split_call_payload(payload, header_class):
    if len(payload) < _U32.size:
        raise DecodeError("payload shorter than its header length")
    (header_length,) = _U32.unpack_from(payload)
    end = _U32.size + header_length
    if end > len(payload):
        raise DecodeError("header length beyond the payload")
    header = header_class()
    header.ParseFromString(bytes(payload[_U32.size:end]))
    return header, bytes(payload[end:])


def decode_response_payload(payload):
    """(ResponseHeader, message bytes); raises DecodeError if malformed."""
    return _split_call_payload(payload, wire_pb2.ResponseHeader)


def decode_request_payload(payload):
    """(RequestHeader, message bytes): the server's view, for tests and fakes."""
    return _split_call_payload(payload, wire_pb2.RequestHeader)


def encode_cancel(call_id):
    return encode_frame_header(FrameType.CANCEL, 0, call_id, 0)


def encode_ping(data, ack):
    return encode_frame_header(FrameType.PING, Flag.ACK if ack else 0, 0, len(data)) + data


def encode_goaway(last_call_id, code, message):
    body = _U32.pack(last_call_id) + wire_pb2.ResponseHeader(
        status_code=code, status_message=message).SerializeToString()
    return encode_frame_header(FrameType.GOAWAY, 0, 0, len(body)) + body


def decode_goaway(payload):
    """(last call id, ResponseHeader); raises DecodeError if malformed."""
    if len(payload) < _U32.size:
        raise DecodeError("GOAWAY shorter than its last call id")
    (last_call_id,) = _U32.unpack_from(payload)
    header = wire_pb2.ResponseHeader()
    header.ParseFromString(bytes(payload[_U32.size:]))
    return last_call_id, header
