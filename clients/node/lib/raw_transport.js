'use strict';
// The client side of the dualrpc raw protocol (docs/PROTOCOL.md) over
// node:net. A RawTransport carries unary calls as encoded request/response
// bytes; encoding messages is the Client's job (client.js).
//
// Connections: one current RawConnection takes new calls; it is opened
// lazily and replaced when it is lost, when the server sent GOAWAY, or when
// its call ids run out. A replaced connection lives until its calls finish.
// All state is owned by the transport and touched only from Node's event
// loop (no locking anywhere).

const net = require('node:net');

const {
  PREFACE,
  PING_PAYLOAD_BYTES,
  FrameType,
  Flag,
  MAJOR_VERSION,
  MAX_CALL_ID,
  MAX_TIMEOUT_MICROS,
  maxFramePayloadBytes,
  frameTypeName,
  encodeFrame,
  callPayloadParts,
  splitCallPayload,
  goawayPayloadParts,
  splitGoawayPayload,
} = require('./frame');
const { FrameDecoder } = require('./frame_decoder');
const { Code, RpcError, rpcError } = require('./status');

// setTimeout's longest delay; longer deadlines re-arm the timer.
const MAX_TIMER_MS = 2 ** 31 - 1;
// After a graceful end(), how long to wait for the server's FIN before
// destroying the socket.
const CLOSE_GRACE_MS = 1000;

const ConnectionState = Object.freeze({
  OPEN: 'open',              // Takes new calls.
  GOING_AWAY: 'going away',  // GOAWAY received (or ids used up): finishes its calls only.
  CLOSED: 'closed',          // Socket gone; every call has failed or finished.
});

// Calls `onExpired` once `ms` milliseconds from now; returns a cancel
// function. Deadlines longer than setTimeout's range re-arm.
function startTimer(ms, onExpired) {
  const expiresAt = performance.now() + ms;
  let timer = null;
  const arm = () => {
    const left = expiresAt - performance.now();
    if (left <= 0) {
      timer = null;
      onExpired();
      return;
    }
    timer = setTimeout(arm, Math.min(Math.ceil(left), MAX_TIMER_MS));
  };
  arm();
  return () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
}

function metadataToObject(entries) {
  const metadata = {};
  for (const { key, value } of entries) {
    const decoded = key.endsWith('-bin') ? Buffer.from(value) : Buffer.from(value).toString('latin1');
    (metadata[key] = metadata[key] || []).push(decoded);
  }
  return metadata;
}

// Whether a frame is one a server may send (§3.1, §6.3): null, or the
// connection error it is ({ codeName, message }).
function protocolViolation({ type, callId, payload }) {
  const internal = (message) => ({ codeName: 'INTERNAL', message });
  switch (type) {
    case FrameType.RESPONSE:
      return callId === 0 ? internal('RESPONSE with call id 0') : null;
    case FrameType.PING:
      if (callId !== 0) return internal('PING with a non-zero call id');
      return payload.length === PING_PAYLOAD_BYTES ? null
        : internal(`PING of ${payload.length} bytes, not ${PING_PAYLOAD_BYTES}`);
    case FrameType.GOAWAY:
      return callId === 0 ? null : internal('GOAWAY with a non-zero call id');
    case FrameType.REQUEST:
    case FrameType.CANCEL:
    case FrameType.MESSAGE:
      return internal(`${frameTypeName(type)} from the server`);
    default:
      return { codeName: 'UNIMPLEMENTED', message: `unknown ${frameTypeName(type)}` };
  }
}

// One connection (TCP or unix socket) and the calls waiting on it. Owned by a RawTransport;
// reports its end through `onClosed(connection)` exactly once.
class RawConnection {
  // `path`: a unix socket's path, else '' and `host`, `port` name a TCP server.
  constructor({ host, port, path, limits, connectTimeoutMs, wire, onClosed }) {
    this.address_ = path ? `unix:${path}` : net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    this.limits_ = limits;
    this.wire_ = wire;
    this.onClosed_ = onClosed;
    this.state_ = ConnectionState.OPEN;
    this.nextCallId_ = 1;
    // call id → { resolve, reject, cancelTimer }
    this.pending_ = new Map();
    this.decoder_ = new FrameDecoder({ maxPayloadBytes: maxFramePayloadBytes(limits) });
    this.corked_ = false;

    // The raw protocol runs unchanged over a unix stream socket.
    this.socket_ = path ? net.connect({ path }) : net.connect({ host, port });
    if (!path) this.socket_.setNoDelay(true);
    this.cancelConnectTimer_ = startTimer(connectTimeoutMs, () =>
      this.close_(rpcError('UNAVAILABLE', `cannot connect to ${this.address_} within ${connectTimeoutMs} ms`)));
    this.socket_.once('connect', () => this.cancelConnectTimer_());
    this.socket_.on('data', (chunk) => this.onData_(chunk));
    this.socket_.on('end', () => this.close_(rpcError('UNAVAILABLE', `${this.address_} closed the connection`)));
    this.socket_.on('error', (error) =>
      this.close_(rpcError('UNAVAILABLE', `connection to ${this.address_} failed: ${error.message}`)));
    this.socket_.on('close', () => this.close_(rpcError('UNAVAILABLE', `connection to ${this.address_} closed`)));
    // The client MAY send frames right after its preface (§2).
    this.write_(PREFACE);
  }

  acceptsCalls() {
    return this.state_ === ConnectionState.OPEN;
  }

  // Sends one REQUEST; resolves with the response message bytes or rejects
  // with an RpcError. `timeoutMs` null means no deadline.
  start(requestHeader, message, timeoutMs) {
    return new Promise((resolve, reject) => {
      const callId = this.nextCallId_++;
      if (callId === MAX_CALL_ID) this.stopTakingCalls_();
      const call = { resolve, reject, cancelTimer: () => {} };
      this.pending_.set(callId, call);
      if (timeoutMs !== null) {
        call.cancelTimer = startTimer(timeoutMs, () => this.onDeadline_(callId));
      }
      this.write_(encodeFrame(FrameType.REQUEST, Flag.END_STREAM, callId, callPayloadParts(requestHeader, message)));
    });
  }

  // Closes at once; waiting calls fail with `error`.
  abort(error) {
    this.close_(error);
  }

  onData_(chunk) {
    for (const event of this.decoder_.push(chunk)) {
      if (this.state_ === ConnectionState.CLOSED) return;
      switch (event.kind) {
        case 'preface':
          if (event.major !== MAJOR_VERSION) {
            this.close_(rpcError('UNAVAILABLE',
              `${this.address_} speaks protocol version ${event.major}.${event.minor}, not ${MAJOR_VERSION}.x`));
          }
          break;
        case 'frame':
          this.onFrame_(event);
          break;
        case 'oversized':
          this.onOversizedFrame_(event);
          break;
        default:
          this.close_(rpcError('UNAVAILABLE', `${this.address_}: ${event.message}`));
          break;
      }
    }
  }

  onFrame_(frame) {
    const violation = protocolViolation(frame);
    if (violation !== null) {
      this.protocolError_(violation.codeName, violation.message);
      return;
    }
    switch (frame.type) {
      case FrameType.RESPONSE:
        this.onResponse_(frame.callId, frame.payload);
        break;
      case FrameType.PING:
        if ((frame.flags & Flag.ACK) === 0) this.write_(encodeFrame(FrameType.PING, Flag.ACK, 0, [frame.payload]));
        break;
      default:  // GOAWAY
        this.onGoaway_(frame.payload);
        break;
    }
  }

  // A RESPONSE too large to buffer fails its call (as gRPC fails a call whose
  // response is over the receive limit); the decoder skips its payload, so
  // the connection stays usable. Any other oversized frame ends it (§6.3).
  onOversizedFrame_({ type, callId, length }) {
    if (type !== FrameType.RESPONSE) {
      this.protocolError_('RESOURCE_EXHAUSTED', `${frameTypeName(type)} of ${length} bytes`);
      return;
    }
    this.finish_(callId, rpcError('RESOURCE_EXHAUSTED',
      `response frame of ${length} bytes exceeds the limit of ${maxFramePayloadBytes(this.limits_)} bytes`));
  }

  onResponse_(callId, payload) {
    if (!this.pending_.has(callId)) return;  // Expired or cancelled (§4.5).
    this.finish_(callId, this.decodeResponse_(payload));
  }

  // The response message bytes, or the RpcError the call ends with.
  decodeResponse_(payload) {
    const parts = splitCallPayload(payload);
    if (parts === null) return rpcError('INTERNAL', 'malformed RESPONSE: header length exceeds the payload');
    if (parts.header.length > this.limits_.maxHeaderBytes) {
      return rpcError('RESOURCE_EXHAUSTED',
        `response header of ${parts.header.length} bytes exceeds the limit of ${this.limits_.maxHeaderBytes} bytes`);
    }
    const header = this.decodeResponseHeader_(parts.header);
    if (header === null) return rpcError('INTERNAL', 'cannot parse the response header');
    if (header.statusCode !== Code.OK) {
      return new RpcError(header.statusCode, header.statusMessage, metadataToObject(header.metadata));
    }
    if (parts.message.length > this.limits_.maxMessageBytes) {
      return rpcError('RESOURCE_EXHAUSTED',
        `response message of ${parts.message.length} bytes exceeds the limit of ${this.limits_.maxMessageBytes} bytes`);
    }
    return parts.message;
  }

  onGoaway_(payload) {
    const parts = splitGoawayPayload(payload);
    const header = parts === null ? null : this.decodeResponseHeader_(parts.header);
    if (header === null) {
      this.protocolError_('INTERNAL', 'unparseable GOAWAY');
      return;
    }
    const reason = new RpcError(header.statusCode, header.statusMessage).message;
    this.stopTakingCalls_();
    // Calls after last_call_id were never run: safe to retry (§5.3).
    for (const callId of [...this.pending_.keys()]) {
      if (callId > parts.lastCallId) {
        this.finish_(callId, rpcError('UNAVAILABLE', `${this.address_} is going away (${reason}); the call was not run`));
      }
    }
    if (header.statusCode !== Code.OK && header.statusCode !== Code.UNAVAILABLE) {
      // A connection error: the server closes at once (§5.5).
      this.close_(rpcError('UNAVAILABLE', `${this.address_} ended the connection (${reason})`));
    } else {
      this.closeIfDrained_();
    }
  }

  // A ResponseHeader, or null when it does not parse.
  decodeResponseHeader_(bytes) {
    try {
      return this.wire_.ResponseHeader.decode(bytes);
    } catch (error) {
      return null;
    }
  }

  onDeadline_(callId) {
    if (!this.pending_.has(callId)) return;
    this.finish_(callId, rpcError('DEADLINE_EXCEEDED', 'deadline exceeded'));
    // The server may still be working on it (§4.5).
    if (this.state_ !== ConnectionState.CLOSED) this.write_(encodeFrame(FrameType.CANCEL, 0, callId));
  }

  // Ends one waiting call with response bytes (Buffer) or an RpcError.
  finish_(callId, outcome) {
    const call = this.pending_.get(callId);
    if (call === undefined) return;
    this.pending_.delete(callId);
    call.cancelTimer();
    if (outcome instanceof RpcError) {
      call.reject(outcome);
    } else {
      call.resolve(outcome);
    }
    this.closeIfDrained_();
  }

  stopTakingCalls_() {
    if (this.state_ === ConnectionState.OPEN) this.state_ = ConnectionState.GOING_AWAY;
  }

  // A connection that takes no new calls is closed once its last call ends.
  closeIfDrained_() {
    if (this.state_ === ConnectionState.GOING_AWAY && this.pending_.size === 0) {
      this.close_(null);
    }
  }

  // A connection error on our side (§6.3): GOAWAY with `codeName`, then close.
  protocolError_(codeName, message) {
    const header = this.wire_.ResponseHeader.encode({ statusCode: Code[codeName], statusMessage: message }).finish();
    this.write_(encodeFrame(FrameType.GOAWAY, 0, 0, goawayPayloadParts(0, header)));
    this.close_(rpcError('UNAVAILABLE', `protocol error from ${this.address_}: ${message}`));
  }

  // The one close path. `error` (an RpcError) fails the calls still waiting;
  // null closes a drained connection gracefully.
  close_(error) {
    if (this.state_ === ConnectionState.CLOSED) return;
    this.state_ = ConnectionState.CLOSED;
    this.cancelConnectTimer_();
    const pending = this.pending_;
    this.pending_ = new Map();
    for (const call of pending.values()) {
      call.cancelTimer();
      call.reject(error || rpcError('UNAVAILABLE', `connection to ${this.address_} closed`));
    }
    if (this.socket_.destroyed) {
      // Nothing to flush.
    } else if (error === null || this.socket_.writableLength > 0) {
      // Flush what is written (a final GOAWAY or CANCEL), then FIN.
      this.socket_.end();
      setTimeout(() => this.socket_.destroy(), CLOSE_GRACE_MS).unref();
    } else {
      this.socket_.destroy();
    }
    this.onClosed_(this);
  }

  // Writes issued in one turn of the event loop leave in one send.
  write_(bytes) {
    if (this.state_ === ConnectionState.CLOSED || this.socket_.destroyed) return;
    if (!this.corked_) {
      this.corked_ = true;
      this.socket_.cork();
      process.nextTick(() => {
        this.corked_ = false;
        this.socket_.uncork();
      });
    }
    this.socket_.write(bytes);
  }
}

// Unary calls over raw connections to one server address.
class RawTransport {
  // `limits`: { maxMessageBytes, maxHeaderBytes }; `wire`: the protobufjs
  // types of dualrpc.wire.v1 (RequestHeader, ResponseHeader).
  // `path`: a unix socket's path, else '' (TCP to `host`:`port`).
  constructor({ host, port, path = '', limits, connectTimeoutMs, wire }) {
    this.host_ = host;
    this.port_ = port;
    this.path_ = path;
    this.limits_ = limits;
    this.connectTimeoutMs_ = connectTimeoutMs;
    this.wire_ = wire;
    this.current_ = null;
    // Every connection not yet closed, the current one included.
    this.connections_ = new Set();
  }

  // `metadata`: [[key, Buffer]] already validated. Resolves with the
  // response message bytes.
  unaryCall(method, message, { timeoutMs, metadata }) {
    const header = this.wire_.RequestHeader.encode({
      method,
      timeoutMicros: timeoutMicros(timeoutMs),
      metadata: metadata.map(([key, value]) => ({ key, value })),
    }).finish();
    if (header.length > this.limits_.maxHeaderBytes) {
      return Promise.reject(rpcError('RESOURCE_EXHAUSTED',
        `request header of ${header.length} bytes exceeds the limit of ${this.limits_.maxHeaderBytes} bytes`));
    }
    return this.connectionForNewCall_().start(header, message, timeoutMs);
  }

  // Fails every waiting call with `error` and closes every connection.
  close(error) {
    for (const connection of [...this.connections_]) connection.abort(error);
    this.current_ = null;
  }

  connectionForNewCall_() {
    if (this.current_ === null || !this.current_.acceptsCalls()) {
      this.current_ = new RawConnection({
        host: this.host_,
        port: this.port_,
        path: this.path_,
        limits: this.limits_,
        connectTimeoutMs: this.connectTimeoutMs_,
        wire: this.wire_,
        onClosed: (connection) => {
          this.connections_.delete(connection);
          if (this.current_ === connection) this.current_ = null;
        },
      });
      this.connections_.add(this.current_);
    }
    return this.current_;
  }
}

// RequestHeader.timeout_micros for a relative deadline in ms: 0 means none;
// a deadline is never rounded down to none.
function timeoutMicros(timeoutMs) {
  if (timeoutMs === null) return 0;
  const micros = Math.ceil(timeoutMs * 1000);
  return micros > MAX_TIMEOUT_MICROS ? 0 : Math.max(1, micros);
}

module.exports = { RawTransport, timeoutMicros };
