"""A scripted raw-protocol peer for client unit tests (docs/PROTOCOL.md,
version 1.1 by default; SERVER_PREFACE_1_0 makes it a 1.0 server).

FakeRawServer listens on 127.0.0.1:0 and hands every accepted connection to
the test as a FakePeer; the test reads the client's frames and writes what it
likes — including nothing (deadlines), a GOAWAY, or a close. It packs frames
with its own struct code, not the client's codec, so that a codec bug cannot
hide itself; only the generated wire messages are shared.
"""

import collections
import dataclasses
import queue
import socket
import struct
import threading
import time

from dualrpc.wire.v1 import wire_pb2

SERVER_PREFACE = b"DRPC\x01\x01\x00\x00"
SERVER_PREFACE_1_0 = b"DRPC\x01\x00\x00\x00"
REQUEST, RESPONSE, CANCEL, PING, GOAWAY, MESSAGE, WINDOW_UPDATE = 1, 2, 3, 4, 5, 6, 7
END_STREAM, COMPRESSED, ACK = 0x01, 0x02, 0x80
# §7.4: the window each direction of a streaming call starts with.
INITIAL_WINDOW = 65_536
_HEADER = struct.Struct(">IBBHI")
_U32 = struct.Struct(">I")
# Longest a test waits for something the client should do.
WAIT_SECONDS = 10.0


@dataclasses.dataclass
class Frame:
    type: int
    flags: int
    call_id: int
    payload: bytes


@dataclasses.dataclass
class Request:
    call_id: int
    flags: int
    header: wire_pb2.RequestHeader
    message: bytes


def _recv_exactly(sock, size):
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


class FakePeer:
    """The server side of one accepted connection. A reader thread queues what
    the client sends: its preface first, then Frames, then None at EOF."""

    def __init__(self, sock, server_preface, preface_gate=None):
        self._sock = sock
        self._server_preface = server_preface
        self._preface_gate = preface_gate
        self._received = queue.Queue()
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _read_loop(self):
        try:
            preface = _recv_exactly(self._sock, len(SERVER_PREFACE))
            self._received.put(preface)
            if preface is None:
                return
            if self._preface_gate is not None:  # The test says when the preface goes.
                threading.Thread(target=self._send_preface_when_open, daemon=True).start()
            else:
                self.send(self._server_preface)
            while True:
                header = _recv_exactly(self._sock, _HEADER.size)
                if header is None:
                    break
                length, frame_type, flags, _reserved, call_id = _HEADER.unpack(header)
                payload = _recv_exactly(self._sock, length) if length else b""
                if payload is None:
                    break
                self._received.put(Frame(frame_type, flags, call_id, payload))
        except OSError:
            pass
        self._received.put(None)

    def _send_preface_when_open(self):
        if self._preface_gate.wait(WAIT_SECONDS):
            self.send(self._server_preface)

    def client_preface(self):
        return self._received.get(timeout=WAIT_SECONDS)

    def next_frame(self):
        """The client's next frame (after its preface), or None at EOF."""
        item = self._received.get(timeout=WAIT_SECONDS)
        if isinstance(item, bytes):  # The preface, when the test did not ask for it.
            item = self._received.get(timeout=WAIT_SECONDS)
        return item

    def poll_frame(self, timeout):
        """Like next_frame, waiting at most `timeout`; queue.Empty if none came."""
        item = self._received.get(timeout=timeout)
        if isinstance(item, bytes):
            item = self._received.get(timeout=timeout)
        return item

    def next_request(self):
        frame = self.next_frame()
        assert frame is not None and frame.type == REQUEST, frame
        (header_length,) = _U32.unpack_from(frame.payload)
        header = wire_pb2.RequestHeader.FromString(frame.payload[4:4 + header_length])
        return Request(frame.call_id, frame.flags, header, frame.payload[4 + header_length:])

    def next_message(self, call_id):
        """The client's next frame, which must be a MESSAGE of `call_id`."""
        frame = self.next_frame()
        assert frame is not None and (frame.type, frame.call_id) == (MESSAGE, call_id), frame
        return frame

    def send_message(self, call_id, message, flags=0):
        self.send_frame(MESSAGE, flags, call_id, message)

    def send_window_update(self, call_id, increment):
        self.send_frame(WINDOW_UPDATE, 0, call_id, _U32.pack(increment))

    def send(self, data):
        with self._send_lock:
            self._sock.sendall(data)

    def send_frame(self, frame_type, flags, call_id, payload):
        self.send(_HEADER.pack(len(payload), frame_type, flags, 0, call_id) + payload)

    def respond(self, call_id, message=b"", code=0, status_message="", metadata=()):
        header = wire_pb2.ResponseHeader(status_code=code, status_message=status_message)
        for key, value in metadata:
            header.metadata.add(key=key, value=value)
        header_bytes = header.SerializeToString()
        self.send_frame(RESPONSE, END_STREAM, call_id,
                        _U32.pack(len(header_bytes)) + header_bytes + message)

    def send_goaway(self, last_call_id, code, status_message=""):
        reason = wire_pb2.ResponseHeader(status_code=code, status_message=status_message)
        self.send_frame(GOAWAY, 0, 0, _U32.pack(last_call_id) + reason.SerializeToString())

    def close(self):
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._reader.join(WAIT_SECONDS)
        self._sock.close()


class _EchoCall:
    def __init__(self, deadline):
        self.deadline = deadline
        self.window = INITIAL_WINDOW  # The client's window for our MESSAGEs.
        self.backlog = collections.deque()  # Echoes waiting for window.
        self.half_closed = False


def serve_echo_streams(peer):
    """Plays a 1.1 server of bidi echo calls on `peer` until EOF (§7): each
    request MESSAGE comes back as a response MESSAGE, within the client's
    window (WINDOW_UPDATE refills it; we return credit per request read);
    the half-close gets RESPONSE OK once every echo went; timeout_micros
    ends a call with RESPONSE DEADLINE_EXCEEDED; CANCEL ends it silently."""
    calls = {}
    while True:
        now = time.monotonic()
        deadlines = [c.deadline for c in calls.values() if c.deadline is not None]
        wait = max(0.0, min(deadlines) - now) if deadlines else WAIT_SECONDS
        try:
            frame = peer.poll_frame(wait)
        except queue.Empty:
            frame = False
        if frame is None:
            return
        now = time.monotonic()
        for call_id in [i for i, c in calls.items() if c.deadline and c.deadline <= now]:
            del calls[call_id]
            peer.respond(call_id, code=4, status_message="deadline exceeded")
        if frame is False:
            continue
        call = calls.get(frame.call_id)
        if frame.type == REQUEST:
            (header_length,) = _U32.unpack_from(frame.payload)
            header = wire_pb2.RequestHeader.FromString(frame.payload[4:4 + header_length])
            timeout = header.timeout_micros / 1e6
            calls[frame.call_id] = _EchoCall(now + timeout if timeout else None)
        elif frame.type == CANCEL:
            calls.pop(frame.call_id, None)
        elif call is not None and frame.type == WINDOW_UPDATE:
            call.window += _U32.unpack(frame.payload)[0]
        elif call is not None and frame.type == MESSAGE:
            if frame.flags & END_STREAM:
                call.half_closed = True
            else:
                call.backlog.append(frame.payload)
                peer.send_window_update(frame.call_id, _HEADER.size + len(frame.payload))
        if call is None or frame.call_id not in calls:
            continue
        while call.backlog and call.window > 0:
            message = call.backlog.popleft()
            call.window -= _HEADER.size + len(message)
            peer.send_message(frame.call_id, message)
        if call.half_closed and not call.backlog:
            del calls[frame.call_id]
            peer.respond(frame.call_id)


class FakeRawServer:
    def __init__(self, server_preface=SERVER_PREFACE, preface_gate=None):
        """preface_gate: a threading.Event; each connection's server preface
        is sent once it is set (default: at once)."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._server_preface = server_preface
        self._preface_gate = preface_gate
        self._accepted = queue.Queue()
        self._peers = []  # Guarded by _lock.
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def target(self):
        return f"raw://127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def connections_accepted(self):
        with self._lock:
            return len(self._peers)

    def _accept_loop(self):
        while True:
            try:
                sock, _address = self._listener.accept()
            except OSError:
                return
            peer = FakePeer(sock, self._server_preface, self._preface_gate)
            with self._lock:
                self._peers.append(peer)
            self._accepted.put(peer)

    def accept(self):
        """The next connection the client opened."""
        return self._accepted.get(timeout=WAIT_SECONDS)

    def close(self):
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._acceptor.join(WAIT_SECONDS)
        with self._lock:
            peers = list(self._peers)
        for peer in peers:
            peer.close()
