'use strict';
// The client side of the dualrpc raw protocol (docs/PROTOCOL.md) over
// node:net. A RawTransport carries unary calls and streaming calls (§7) as
// encoded request/response bytes; encoding messages is the Client's job
// (client.js, stream_call.js).
//
// Connections: one current RawConnection takes new calls; it is opened
// lazily and replaced when it is lost, when the server sent GOAWAY, or when
// its call ids run out. A replaced connection lives until its calls finish.
// All state is owned by the transport and touched only from Node's event
// loop (no locking anywhere).

const net = require('node:net');
const tls = require('node:tls');

const {
  PREFACE,
  PING_PAYLOAD_BYTES,
  FrameType,
  Flag,
  MAJOR_VERSION,
  STREAMING_MINOR_VERSION,
  MAX_CALL_ID,
  MAX_TIMEOUT_MICROS,
  INITIAL_STREAM_WINDOW,
  MAX_STREAM_WINDOW,
  streamMessageCost,
  maxFramePayloadBytes,
  frameTypeName,
  encodeFrame,
  callPayloadParts,
  splitCallPayload,
  goawayPayloadParts,
  splitGoawayPayload,
  windowUpdatePayloadParts,
  parseWindowUpdate,
} = require('./frame');
const { FrameDecoder } = require('./frame_decoder');
const { MethodKind, hasRequestStream, hasResponseStream } = require('./method_kind');
const { Code, RpcError, rpcError } = require('./status');
const { failedStream } = require('./stream_handle');
const { RAW_ALPN_PROTOCOL, describeTlsFailure, rawTlsConnectOptions } = require('./tls');

// setTimeout's longest delay; longer deadlines re-arm the timer.
const MAX_TIMER_MS = 2 ** 31 - 1;
// After a graceful end(), how long to wait for the server's FIN before
// destroying the socket.
const CLOSE_GRACE_MS = 1000;
// A receiver returns credit once the consumed, not yet returned bytes reach
// half the initial window (§7.4).
const WINDOW_UPDATE_THRESHOLD = INITIAL_STREAM_WINDOW / 2;
const EMPTY = Buffer.alloc(0);

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
function protocolViolation({ type, flags, callId, payload }) {
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
    case FrameType.MESSAGE:
      if (callId === 0) return internal('MESSAGE with call id 0');
      return (flags & Flag.END_STREAM) === 0 ? null : internal('half-close MESSAGE from the server');
    case FrameType.WINDOW_UPDATE:
      if (callId === 0) return internal('WINDOW_UPDATE with call id 0');
      return parseWindowUpdate(payload) !== null ? null
        : internal('bad WINDOW_UPDATE: want a 4-byte increment in 1..2147483647');
    case FrameType.REQUEST:
    case FrameType.CANCEL:
      return internal(`${frameTypeName(type)} from the server`);
    default:
      return { codeName: 'UNIMPLEMENTED', message: `unknown ${frameTypeName(type)}` };
  }
}

// A unary call waiting for its RESPONSE. The connection calls exactly one
// of `settle` (with { message, trailers } or an RpcError) and `notRun` (an
// UNAVAILABLE RpcError: a GOAWAY said the server never ran it, so it may
// be sent again; `onNotRun(error)`, when given, does that, else the call
// fails with `error`), once.
class UnaryCall {
  constructor(resolve, reject, onNotRun = null) {
    this.kind = MethodKind.UNARY;
    this.resolve_ = resolve;
    this.reject_ = reject;
    this.onNotRun_ = onNotRun;
    this.cancelTimer = () => {};
  }

  notRun(error) {
    if (this.onNotRun_ === null) {
      this.settle(error);
      return;
    }
    this.cancelTimer();
    this.onNotRun_(error);
  }

  settle(outcome) {
    this.cancelTimer();
    if (outcome instanceof RpcError) {
      this.reject_(outcome);
    } else {
      this.resolve_(outcome.message);
    }
  }
}

// One streaming call (§7) on a RawConnection: its REQUEST, its MESSAGE
// frames both ways under per-call flow control (§7.4), its end. Created by
// RawConnection.openStream and handed to the caller as the transport's
// stream handle (write, end, cancel, consumed; the contract, sink included,
// is in stream_handle.js). A write is held while the send window is <= 0 or
// the REQUEST waits for the server's preface; its `done` comes once the
// MESSAGE left and the socket needs no drain. Credit goes back as
// WINDOW_UPDATE once the consumed, unreturned bytes reach half the initial
// window. Owned by its connection while in the connection's tables; touched
// only on Node's event loop.
//
// A balanced transport (raw_balancer.js) creates a stream with no
// connection (`connection` null: writes are held, the deadline runs) and
// attaches it to one later (RawConnection.attachStream); `onNotRun(error)`
// then takes a stream a GOAWAY says was never run, as long as no MESSAGE
// went either way (so it can start again elsewhere), instead of failing it.
class RawStream {
  constructor(connection, { kind, method, metadata, request, timeoutMs, sink, onNotRun = null }) {
    this.connection_ = connection;
    this.kind = kind;
    this.method_ = method;
    this.metadata_ = metadata;
    this.request_ = request;  // Server streaming: the one request, sent in the REQUEST.
    this.onNotRun_ = onNotRun;
    this.messagesSent_ = 0;
    this.messagesReceived_ = 0;
    this.sink_ = sink;
    this.callId = 0;  // 0 until the REQUEST is written.
    this.done_ = false;
    this.sendWindow_ = INITIAL_STREAM_WINDOW;
    this.receiveWindow_ = INITIAL_STREAM_WINDOW;
    this.unreturned_ = 0;  // Consumed bytes not yet given back by WINDOW_UPDATE.
    this.heldWrite_ = null;  // { bytes, done } waiting for window or REQUEST.
    this.endRequested_ = false;
    this.halfClosed_ = false;
    this.noCancel_ = false;
    this.deadlineAt_ = timeoutMs === null ? null : performance.now() + timeoutMs;
    this.cancelTimer = timeoutMs === null ? () => {}
      : startTimer(timeoutMs, () => this.fail(rpcError('DEADLINE_EXCEEDED', 'deadline exceeded')));
  }

  write(bytes, done) {
    if (this.done_) {
      done();  // The call is over: the message is dropped (§7.2).
      return;
    }
    this.heldWrite_ = { bytes, done };
    this.flushWrites_();
  }

  end() {
    if (this.done_ || !hasRequestStream(this.kind)) return;
    this.endRequested_ = true;
    this.flushWrites_();
  }

  cancel() {
    this.finish_(null);
  }

  // Whether the call has ended (the sink had its onEnd, or cancel()).
  get done() {
    return this.done_;
  }

  consumed(length) {
    if (this.done_ || this.callId === 0) return;
    this.unreturned_ += streamMessageCost(length);
    if (this.unreturned_ < WINDOW_UPDATE_THRESHOLD) return;
    this.receiveWindow_ += this.unreturned_;
    this.connection_.write_(encodeFrame(FrameType.WINDOW_UPDATE, 0, this.callId,
      windowUpdatePayloadParts(this.unreturned_)));
    this.unreturned_ = 0;
  }

  // --- from the connection ---

  // Writes the REQUEST; the server's preface allowed streaming (§7.1).
  sendRequest(callId) {
    this.callId = callId;
    const header = this.connection_.wire_.RequestHeader.encode({
      method: this.method_,
      timeoutMicros: timeoutMicros(this.deadlineAt_ === null ? null : Math.max(0, this.deadlineAt_ - performance.now())),
      metadata: this.metadata_,
    }).finish();
    const oneRequest = this.kind === MethodKind.SERVER_STREAMING;
    this.connection_.write_(encodeFrame(FrameType.REQUEST, oneRequest ? Flag.END_STREAM : 0, callId,
      callPayloadParts(header, oneRequest ? this.request_ : EMPTY)));
    // Kept while the call may still be sent again elsewhere.
    if (this.onNotRun_ === null) this.request_ = null;
    this.flushWrites_();
  }

  onMessage(frame) {
    if (!hasResponseStream(this.kind)) {
      this.fail(rpcError('INTERNAL', `MESSAGE on a ${this.kind} call`));
      return;
    }
    if ((frame.flags & Flag.COMPRESSED) !== 0) {
      this.fail(rpcError('UNIMPLEMENTED', 'compression is not supported'));
      return;
    }
    this.takeReceiveWindow_(frame.payload.length);
    if (this.done_) return;
    this.messagesReceived_ += 1;
    const limit = this.connection_.limits_.maxMessageBytes;
    if (frame.payload.length > limit) {
      this.fail(rpcError('RESOURCE_EXHAUSTED',
        `response message of ${frame.payload.length} bytes exceeds the limit of ${limit} bytes`));
      return;
    }
    this.sink_.onMessage(frame.payload);
  }

  // A MESSAGE whose payload the decoder skipped: over the frame limit.
  onOversizedMessage(length) {
    this.takeReceiveWindow_(length);
    this.fail(rpcError('RESOURCE_EXHAUSTED',
      `response frame of ${length} bytes exceeds the limit of ${maxFramePayloadBytes(this.connection_.limits_)} bytes`));
  }

  // False when the increment takes the window past 2^31-1 (a connection
  // error, §7.5).
  onWindowUpdate(increment) {
    if (this.sendWindow_ + increment > MAX_STREAM_WINDOW) return false;
    this.sendWindow_ += increment;
    this.flushWrites_();
    return true;
  }

  // `outcome`: { message, trailers } or an RpcError (connection.decodeResponse_).
  onResponse(outcome) {
    if (outcome instanceof RpcError) {
      this.finish_({ error: outcome, response: null, trailers: outcome.metadata });
    } else if (hasResponseStream(this.kind) && outcome.message.length > 0) {
      this.fail(rpcError('INTERNAL', `the RESPONSE of a ${this.kind} call carries a message`));
    } else {
      this.finish_({ error: null, response: hasResponseStream(this.kind) ? null : outcome.message,
        trailers: outcome.trailers });
    }
  }

  // Ends the call with `error`, and tells the server (CANCEL) when it may
  // still be working on it.
  fail(error) {
    this.finish_({ error, response: null, trailers: error.metadata });
  }

  // The connection is gone, the call was not run (GOAWAY) or cannot be
  // (a 1.0 server): no CANCEL.
  settle(error) {
    this.noCancel_ = true;
    this.fail(error);
  }

  // A GOAWAY says the server never ran the call. With `onNotRun` and no
  // MESSAGE sent or received, the stream leaves its connection as new (no
  // call id, full windows) and `onNotRun(error)` places it again; else it
  // fails with `error`.
  notRun(error) {
    if (this.onNotRun_ === null || this.messagesSent_ > 0 || this.messagesReceived_ > 0 || this.done_) {
      this.settle(error);
      return;
    }
    this.connection_.forgetStream_(this);
    this.connection_ = null;
    this.callId = 0;
    this.sendWindow_ = INITIAL_STREAM_WINDOW;
    this.receiveWindow_ = INITIAL_STREAM_WINDOW;
    this.unreturned_ = 0;
    this.halfClosed_ = false;
    this.onNotRun_(error);
  }

  // --- internals ---

  // A MESSAGE arrived: it may only while the window is > 0 (§7.4).
  takeReceiveWindow_(length) {
    if (this.receiveWindow_ <= 0) {
      this.fail(rpcError('RESOURCE_EXHAUSTED', 'flow control window exceeded'));
      return;
    }
    this.receiveWindow_ -= streamMessageCost(length);
  }

  flushWrites_() {
    if (this.done_ || this.callId === 0) return;
    if (this.heldWrite_ !== null) {
      if (this.sendWindow_ <= 0) return;
      const { bytes, done } = this.heldWrite_;
      this.heldWrite_ = null;
      this.sendWindow_ -= streamMessageCost(bytes.length);
      this.messagesSent_ += 1;
      this.request_ = null;
      this.connection_.write_(encodeFrame(FrameType.MESSAGE, 0, this.callId, [bytes]));
      this.connection_.whenWritable_(done);
    }
    if (this.endRequested_ && !this.halfClosed_) {
      this.halfClosed_ = true;
      this.connection_.write_(encodeFrame(FrameType.MESSAGE, Flag.END_STREAM, this.callId));
    }
  }

  // The one end of the call. `outcome` null: cancelled by the application
  // (no sink call). A call whose REQUEST is out and that did not get its
  // RESPONSE is cancelled at the server.
  finish_(outcome) {
    if (this.done_) return;
    this.done_ = true;
    this.cancelTimer();
    const held = this.heldWrite_;
    this.heldWrite_ = null;
    const hadResponse = this.connection_ === null || this.connection_.forgetStream_(this);
    if (this.callId !== 0 && !hadResponse && !this.noCancel_) this.connection_.write_(encodeFrame(FrameType.CANCEL, 0, this.callId));
    this.request_ = null;
    if (held !== null) held.done();
    if (outcome !== null) process.nextTick(() => this.sink_.onEnd(outcome));
  }
}

// The first byte of a TLS record (handshake, alert, change cipher spec,
// application data) and the major version byte after it: what a TLS server
// answers a raw preface with, if anything.
const TLS_RECORD_TYPES = Object.freeze([0x14, 0x15, 0x16, 0x17]);
const TLS_RECORD_MAJOR = 0x03;

function looksLikeTls(chunk) {
  return chunk.length >= 2 && TLS_RECORD_TYPES.includes(chunk[0]) && chunk[1] === TLS_RECORD_MAJOR;
}

// One connection (TCP, TLS over TCP or unix socket) and the calls waiting
// on it. Owned by a RawTransport or a balancer's Backend (raw_balancer.js);
// reports its end through `onClosed(connection, { error, hadCalls,
// healthCheckFailed })` exactly once: `error` the RpcError its calls failed
// with (null: closed gracefully, drained), `hadCalls` whether calls were
// outstanding, `healthCheckFailed` whether a health-check PING went
// unanswered.
class RawConnection {
  // `path`: a unix socket's path, else '' and `host`, `port` name a TCP
  // server. `tlsSettings` (lib/tls.js): null for plaintext, else the
  // connection is TLS with ALPN dualrpc/1 and the handshake counts against
  // `connectTimeoutMs`; requests written before it finished wait in the
  // TLS socket.
  // `onReady(connection)`, when given, is called once the server's preface
  // arrived (and then `connectTimeoutMs` covers the preface too: a server
  // that accepts and says nothing, e.g. a stopped process, is a failed
  // connect). `onGoaway(connection)` is called when a GOAWAY arrives,
  // before the calls it says were not run are handed back (UnaryCall and
  // RawStream notRun). `healthCheck`: null, or { intervalMs, timeoutMs }: a
  // PING is sent once nothing was received for `intervalMs` after the
  // preface; no PING+ACK within `timeoutMs` closes the connection (its
  // calls fail UNAVAILABLE).
  constructor({ host, port, path, limits, connectTimeoutMs, wire, tlsSettings, onClosed, onReady = null,
    onGoaway = () => {}, healthCheck = null }) {
    this.address_ = path ? `unix:${path}` : net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    this.tls_ = tlsSettings === null ? null
      : { name: tlsSettings.serverName || host, alpn: RAW_ALPN_PROTOCOL, plaintextScheme: 'raw' };
    // Whether the TCP (or unix) connection is up, and whether the transport
    // (that and the TLS handshake) is.
    this.socketConnected_ = false;
    this.connected_ = false;
    // The server's first bytes are TLS records: a plaintext client on a TLS port.
    this.answeredInTls_ = false;
    this.limits_ = limits;
    this.wire_ = wire;
    this.onClosed_ = onClosed;
    this.onReady_ = onReady;
    this.onGoawayReceived_ = onGoaway;
    this.healthCheck_ = healthCheck;
    // Health check: when a frame last arrived, the timer (interval, then
    // PONG wait), the payload of the PING waiting for its ACK (else null),
    // whether one went unanswered.
    this.lastReceivedAt_ = 0;
    this.healthTimer_ = null;
    this.pingPayload_ = null;
    this.healthCheckFailed_ = false;
    this.state_ = ConnectionState.OPEN;
    this.nextCallId_ = 1;
    // call id → UnaryCall | RawStream, from its REQUEST to its end.
    this.pending_ = new Map();
    // Streaming calls waiting for the server's preface (§7.1), in order.
    this.awaitingPreface_ = [];
    // The server's minor version; null until its preface arrived.
    this.serverMinor_ = null;
    // The call whose RESPONSE is being handled (RawStream.finish_ sends no
    // CANCEL for it).
    this.answering_ = 0;
    // Callbacks waiting for the socket's 'drain'.
    this.drainWaiters_ = [];
    this.decoder_ = new FrameDecoder({ maxPayloadBytes: maxFramePayloadBytes(limits) });
    this.corked_ = false;

    // The raw protocol runs unchanged over a unix stream socket and over TLS.
    if (path) {
      this.socket_ = net.connect({ path });
    } else if (tlsSettings !== null) {
      this.socket_ = tls.connect(rawTlsConnectOptions(host, port, tlsSettings));
    } else {
      this.socket_ = net.connect({ host, port });
    }
    if (!path) this.socket_.setNoDelay(true);
    // What the connect timeout covers, said when it expires.
    const steps = ['TCP connect', this.tls_ === null ? null : 'TLS handshake',
      this.onReady_ === null ? null : 'server preface'].filter((step) => step !== null);
    const covered = steps.length === 1 ? ''
      : ` (${steps.slice(0, -1).join(', ')} and ${steps[steps.length - 1]})`;
    this.cancelConnectTimer_ = startTimer(connectTimeoutMs, () =>
      this.close_(rpcError('UNAVAILABLE',
        `cannot connect to ${this.address_} within ${connectTimeoutMs} ms${covered}`)));
    this.socket_.once('connect', () => {
      this.socketConnected_ = true;
    });
    this.socket_.once(this.tls_ === null ? 'connect' : 'secureConnect', () => this.onConnected_());
    this.socket_.on('data', (chunk) => this.onData_(chunk));
    this.socket_.on('drain', () => this.onDrain_());
    this.socket_.on('end', () => this.close_(this.lostError_(null, `${this.address_} closed the connection`, true)));
    this.socket_.on('error', (error) =>
      this.close_(this.lostError_(error, `connection to ${this.address_} failed: ${error.message}`)));
    this.socket_.on('close', () => this.close_(this.lostError_(null, `connection to ${this.address_} closed`, true)));
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
      this.startUnary(new UnaryCall(resolve, reject), requestHeader, message, timeoutMs);
    });
  }

  // Sends `call`'s REQUEST (a UnaryCall, which the connection then settles
  // or hands back through notRun).
  startUnary(call, requestHeader, message, timeoutMs) {
    const callId = this.allocateCallId_();
    this.pending_.set(callId, call);
    if (timeoutMs !== null) {
      call.cancelTimer = startTimer(timeoutMs, () => this.onDeadline_(callId));
    }
    this.write_(encodeFrame(FrameType.REQUEST, Flag.END_STREAM, callId, callPayloadParts(requestHeader, message)));
  }

  // Opens a streaming call (the RawStream contract above). Its REQUEST
  // leaves once the server's preface said 1.1; a 1.0 server fails it with
  // UNIMPLEMENTED and the connection serves on (§7.1).
  openStream(options) {
    const stream = new RawStream(this, options);
    this.attachStream(stream);
    return stream;
  }

  // Takes a RawStream created without a connection (or handed back by
  // notRun) and sends it as openStream does.
  attachStream(stream) {
    stream.connection_ = this;
    if (this.serverMinor_ === null) {
      this.awaitingPreface_.push(stream);
    } else {
      this.sendOrRefuse_(stream);
    }
  }

  // Takes no new calls and closes gracefully once those outstanding ended.
  drain() {
    this.stopTakingCalls_();
    this.closeIfDrained_();
  }

  // The calls outstanding (sent, or waiting for the preface).
  get callsOutstanding() {
    return this.pending_.size + this.awaitingPreface_.length;
  }

  // Closes at once; waiting calls fail with `error`.
  abort(error) {
    this.close_(error);
  }

  onConnected_() {
    if (this.onReady_ === null) this.cancelConnectTimer_();
    const protocol = this.tls_ === null ? false : this.socket_.alpnProtocol;
    // A server without ALPN is taken at its word; one that chose another
    // protocol cannot have (the client offers only dualrpc/1).
    if (protocol && protocol !== RAW_ALPN_PROTOCOL) {
      this.close_(rpcError('UNAVAILABLE', `${this.address_} chose ALPN protocol ${protocol}, not ${RAW_ALPN_PROTOCOL}`));
      return;
    }
    this.connected_ = true;
  }

  // The UNAVAILABLE error a lost connection fails its calls with: `error`
  // (the socket's, or null), `fallback` (its message), `closedByPeer` (an
  // end or close rather than an error), said in words when the cause is
  // TLS: a failed handshake, a TLS client on a plaintext port, a plaintext
  // client on a TLS port.
  lostError_(error, fallback, closedByPeer = false) {
    if (this.tls_ !== null) {
      const where = { address: this.address_, ...this.tls_ };
      const described = error === null ? null : describeTlsFailure(error, where);
      if (described !== null) return rpcError('UNAVAILABLE', described);
      if (this.socketConnected_ && !this.connected_) {
        return rpcError('UNAVAILABLE', describeTlsFailure(
          { message: 'disconnected before secure TLS connection was established' }, where));
      }
      return rpcError('UNAVAILABLE', fallback);
    }
    if (this.answeredInTls_) {
      return rpcError('UNAVAILABLE', `${this.address_} answered in TLS, not the raw protocol (a TLS port? use raws://)`);
    }
    if (closedByPeer && this.connected_ && this.serverMinor_ === null) {
      return rpcError('UNAVAILABLE', `${fallback} before its preface (a TLS port? use raws://)`);
    }
    return rpcError('UNAVAILABLE', fallback);
  }

  onData_(chunk) {
    this.lastReceivedAt_ = performance.now();
    if (this.tls_ === null && this.serverMinor_ === null && this.decoder_.bufferedBytes === 0
      && looksLikeTls(chunk)) {
      this.answeredInTls_ = true;
    }
    for (const event of this.decoder_.push(chunk)) {
      if (this.state_ === ConnectionState.CLOSED) return;
      switch (event.kind) {
        case 'preface':
          this.onPreface_(event);
          break;
        case 'frame':
          this.onFrame_(event);
          break;
        case 'oversized':
          this.onOversizedFrame_(event);
          break;
        default:
          this.close_(this.lostError_(null, `${this.address_}: ${event.message}`));
          break;
      }
    }
  }

  onPreface_({ major, minor }) {
    if (major !== MAJOR_VERSION) {
      this.close_(rpcError('UNAVAILABLE',
        `${this.address_} speaks protocol version ${major}.${minor}, not ${MAJOR_VERSION}.x`));
      return;
    }
    this.serverMinor_ = minor;
    if (this.onReady_ !== null) {
      this.cancelConnectTimer_();
      this.armHealthCheck_(this.healthCheck_ === null ? 0 : this.healthCheck_.intervalMs);
    }
    const waiting = this.awaitingPreface_;
    this.awaitingPreface_ = [];
    for (const stream of waiting) this.sendOrRefuse_(stream);
    if (this.onReady_ !== null) this.onReady_(this);
  }

  // The health check's next look in `delayMs` (D2: a PING on a connection
  // idle for intervalMs, a PING+ACK within timeoutMs). Timers are unref'd:
  // the socket, not the check, keeps a process alive.
  armHealthCheck_(delayMs) {
    if (this.healthCheck_ === null || !Number.isFinite(this.healthCheck_.intervalMs)) return;
    this.healthTimer_ = setTimeout(() => this.checkHealth_(), Math.min(delayMs, MAX_TIMER_MS));
    this.healthTimer_.unref();
  }

  checkHealth_() {
    this.healthTimer_ = null;
    if (this.state_ === ConnectionState.CLOSED) return;
    const { intervalMs, timeoutMs } = this.healthCheck_;
    const idleMs = performance.now() - this.lastReceivedAt_;
    if (idleMs < intervalMs) {
      this.armHealthCheck_(intervalMs - idleMs);
      return;
    }
    this.pingPayload_ = Buffer.alloc(PING_PAYLOAD_BYTES);
    this.pingPayload_.writeDoubleBE(performance.now());
    this.write_(encodeFrame(FrameType.PING, 0, 0, [this.pingPayload_]));
    if (!Number.isFinite(timeoutMs)) return;  // Waits for the PONG as long as it takes.
    this.healthTimer_ = setTimeout(() => {
      this.healthTimer_ = null;
      this.healthCheckFailed_ = true;
      this.close_(rpcError('UNAVAILABLE',
        `${this.address_} did not answer a health-check PING within ${timeoutMs} ms`));
    }, timeoutMs);
    this.healthTimer_.unref();
  }

  onPong_(payload) {
    if (this.pingPayload_ === null || !payload.equals(this.pingPayload_)) return;
    this.pingPayload_ = null;
    clearTimeout(this.healthTimer_);
    this.armHealthCheck_(this.healthCheck_.intervalMs);
  }

  sendOrRefuse_(stream) {
    if (this.serverMinor_ < STREAMING_MINOR_VERSION) {
      stream.settle(rpcError('UNIMPLEMENTED', 'the server speaks raw protocol 1.0, which has no streaming calls'));
      return;
    }
    const callId = this.allocateCallId_();
    this.pending_.set(callId, stream);
    stream.sendRequest(callId);
  }

  allocateCallId_() {
    const callId = this.nextCallId_++;
    if (callId === MAX_CALL_ID) this.stopTakingCalls_();
    return callId;
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
      case FrameType.MESSAGE:
        this.onStreamFrame_(frame, (call) => {
          if (call instanceof RawStream) {
            call.onMessage(frame);
          } else {
            this.failUnary_(frame.callId, rpcError('INTERNAL', 'MESSAGE on a unary call'));
          }
        });
        break;
      case FrameType.WINDOW_UPDATE:
        this.onStreamFrame_(frame, (call) => {
          // A unary call has no window; its WINDOW_UPDATE means nothing.
          if (call instanceof RawStream && !call.onWindowUpdate(parseWindowUpdate(frame.payload))) {
            this.protocolError_('INTERNAL', 'WINDOW_UPDATE takes the window above 2147483647');
          }
        });
        break;
      case FrameType.PING:
        if ((frame.flags & Flag.ACK) === 0) {
          this.write_(encodeFrame(FrameType.PING, Flag.ACK, 0, [frame.payload]));
        } else {
          this.onPong_(frame.payload);
        }
        break;
      default:  // GOAWAY
        this.onGoaway_(frame.payload);
        break;
    }
  }

  // MESSAGE or WINDOW_UPDATE: for a call never opened, a connection error;
  // for one no longer tracked, ignored (it crossed our CANCEL, §7.5).
  onStreamFrame_(frame, handle) {
    if (frame.callId >= this.nextCallId_) {
      this.protocolError_('INTERNAL', `${frameTypeName(frame.type)} for call ${frame.callId}, never opened`);
      return;
    }
    const call = this.pending_.get(frame.callId);
    if (call !== undefined) handle(call);
  }

  // A RESPONSE or MESSAGE too large to buffer fails its call (as gRPC fails
  // a call whose response is over the receive limit); the decoder skips its
  // payload, so the connection stays usable (§4.3, §7.3). Any other
  // oversized frame ends it (§6.3).
  onOversizedFrame_({ type, callId, length }) {
    const call = this.pending_.get(callId);
    if (type === FrameType.MESSAGE && callId !== 0 && callId < this.nextCallId_) {
      if (call instanceof RawStream) call.onOversizedMessage(length);
      else if (call !== undefined) this.failUnary_(callId, rpcError('INTERNAL', 'MESSAGE on a unary call'));
      return;
    }
    if (type !== FrameType.RESPONSE) {
      this.protocolError_('RESOURCE_EXHAUSTED', `${frameTypeName(type)} of ${length} bytes`);
      return;
    }
    const error = rpcError('RESOURCE_EXHAUSTED',
      `response frame of ${length} bytes exceeds the limit of ${maxFramePayloadBytes(this.limits_)} bytes`);
    if (call instanceof RawStream) {
      this.answering_ = callId;
      call.onResponse(error);
      this.answering_ = 0;
    } else {
      this.finish_(callId, error);
    }
  }

  onResponse_(callId, payload) {
    const call = this.pending_.get(callId);
    if (call === undefined) return;  // Expired or cancelled (§4.5).
    if (call instanceof RawStream) {
      this.answering_ = callId;
      call.onResponse(this.decodeResponse_(payload));
      this.answering_ = 0;
    } else {
      this.finish_(callId, this.decodeResponse_(payload));
    }
  }

  // { message, trailers }, or the RpcError the call ends with.
  decodeResponse_(payload) {
    const parts = splitCallPayload(payload);
    if (parts === null) return rpcError('INTERNAL', 'malformed RESPONSE: header length exceeds the payload');
    if (parts.header.length > this.limits_.maxHeaderBytes) {
      return rpcError('RESOURCE_EXHAUSTED',
        `response header of ${parts.header.length} bytes exceeds the limit of ${this.limits_.maxHeaderBytes} bytes`);
    }
    const header = this.decodeResponseHeader_(parts.header);
    if (header === null) return rpcError('INTERNAL', 'cannot parse the response header');
    const trailers = metadataToObject(header.metadata);
    if (header.statusCode !== Code.OK) {
      return new RpcError(header.statusCode, header.statusMessage, trailers);
    }
    if (parts.message.length > this.limits_.maxMessageBytes) {
      return rpcError('RESOURCE_EXHAUSTED',
        `response message of ${parts.message.length} bytes exceeds the limit of ${this.limits_.maxMessageBytes} bytes`);
    }
    return { message: parts.message, trailers };
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
    this.onGoawayReceived_(this);
    // Calls after last_call_id were never run: safe to retry (§5.3).
    const notRun = () => rpcError('UNAVAILABLE', `${this.address_} is going away (${reason}); the call was not run`);
    for (const [callId, call] of [...this.pending_]) {
      if (callId <= parts.lastCallId) continue;
      if (call instanceof RawStream) {
        call.notRun(notRun());
      } else {
        this.pending_.delete(callId);
        call.notRun(notRun());
      }
    }
    for (const stream of this.awaitingPreface_.splice(0)) stream.notRun(notRun());
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
    this.failUnary_(callId, rpcError('DEADLINE_EXCEEDED', 'deadline exceeded'));
  }

  // Fails a unary call the server may still be working on, and cancels it
  // there (§4.5).
  failUnary_(callId, error) {
    if (!this.pending_.has(callId)) return;
    this.finish_(callId, error);
    if (this.state_ !== ConnectionState.CLOSED) this.write_(encodeFrame(FrameType.CANCEL, 0, callId));
  }

  // Ends one waiting unary call with { message, trailers } or an RpcError.
  finish_(callId, outcome) {
    const call = this.pending_.get(callId);
    if (call === undefined) return;
    this.pending_.delete(callId);
    call.settle(outcome);
    this.closeIfDrained_();
  }

  // Drops a stream that ended from the tables; true when it ended by its
  // RESPONSE (then the server needs no CANCEL).
  forgetStream_(stream) {
    const waitingAt = this.awaitingPreface_.indexOf(stream);
    if (waitingAt >= 0) this.awaitingPreface_.splice(waitingAt, 1);
    const hadResponse = stream.callId !== 0 && this.answering_ === stream.callId;
    if (this.pending_.get(stream.callId) === stream) this.pending_.delete(stream.callId);
    // Deferred: a close must not run inside the frame handler that ended the call.
    process.nextTick(() => this.closeIfDrained_());
    return hadResponse || this.state_ === ConnectionState.CLOSED;
  }

  // Calls `done` once the socket takes more without buffering past its
  // high-water mark (Node's backpressure), or when the connection closes.
  whenWritable_(done) {
    if (this.state_ === ConnectionState.CLOSED || !this.socket_.writableNeedDrain) {
      done();
    } else {
      this.drainWaiters_.push(done);
    }
  }

  onDrain_() {
    const waiters = this.drainWaiters_;
    this.drainWaiters_ = [];
    for (const done of waiters) done();
  }

  stopTakingCalls_() {
    if (this.state_ === ConnectionState.OPEN) this.state_ = ConnectionState.GOING_AWAY;
  }

  // A connection that takes no new calls is closed once its last call ends.
  closeIfDrained_() {
    if (this.state_ === ConnectionState.GOING_AWAY && this.pending_.size === 0 && this.awaitingPreface_.length === 0) {
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
    clearTimeout(this.healthTimer_);
    const hadCalls = this.callsOutstanding > 0;
    const failure = () => error || rpcError('UNAVAILABLE', `connection to ${this.address_} closed`);
    const pending = this.pending_;
    this.pending_ = new Map();
    for (const call of pending.values()) call.settle(failure());
    for (const stream of this.awaitingPreface_.splice(0)) stream.settle(failure());
    this.onDrain_();
    if (this.socket_.destroyed) {
      // Nothing to flush.
    } else if (error === null || this.socket_.writableLength > 0 || (this.tls_ !== null && this.connected_)) {
      // Flush what is written (a final GOAWAY or CANCEL), then FIN; over
      // TLS, close_notify first (without it the server sees a truncation).
      this.socket_.end();
      setTimeout(() => this.socket_.destroy(), CLOSE_GRACE_MS).unref();
    } else {
      this.socket_.destroy();
    }
    this.onClosed_(this, { error, hadCalls, healthCheckFailed: this.healthCheckFailed_ });
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

// Unary and streaming calls over raw connections to one server address.
class RawTransport {
  // `limits`: { maxMessageBytes, maxHeaderBytes }; `wire`: the protobufjs
  // types of dualrpc.wire.v1 (RequestHeader, ResponseHeader).
  // `path`: a unix socket's path, else '' (TCP to `host`:`port`).
  // `tlsSettings`: null (plaintext) or connect's checked `tls` option
  // (lib/tls.js tlsSettings); every connection is then TLS.
  constructor({ host, port, path = '', limits, connectTimeoutMs, wire, tlsSettings = null }) {
    this.host_ = host;
    this.tlsSettings_ = tlsSettings;
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
    let header;
    try {
      header = requestHeader(this.wire_, this.limits_, method, timeoutMs, metadata);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.connectionForNewCall_().start(header, message, timeoutMs);
  }

  // Opens a streaming call of `kind` (method_kind.js); returns its handle
  // (the contract in stream_call.js). `request`: the one request of a
  // server-streaming call, else null. A header over the limit fails the call
  // before anything is sent.
  openStream(method, kind, request, { timeoutMs, metadata }, sink) {
    try {
      requestHeader(this.wire_, this.limits_, method, timeoutMs, metadata);
    } catch (error) {
      return failedStream(sink, error);
    }
    const entries = metadata.map(([key, value]) => ({ key, value }));
    return this.connectionForNewCall_().openStream({ kind, method, metadata: entries, request, timeoutMs, sink });
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
        tlsSettings: this.tlsSettings_,
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

// The encoded RequestHeader of a call (`metadata`: [[key, Buffer]]); throws
// RESOURCE_EXHAUSTED when it is over `limits.maxHeaderBytes`.
function requestHeader(wire, limits, method, timeoutMs, metadata) {
  const header = wire.RequestHeader.encode({
    method,
    timeoutMicros: timeoutMicros(timeoutMs),
    metadata: metadata.map(([key, value]) => ({ key, value })),
  }).finish();
  if (header.length > limits.maxHeaderBytes) {
    throw rpcError('RESOURCE_EXHAUSTED',
      `request header of ${header.length} bytes exceeds the limit of ${limits.maxHeaderBytes} bytes`);
  }
  return header;
}

// RequestHeader.timeout_micros for a relative deadline in ms: 0 means none;
// a deadline is never rounded down to none.
function timeoutMicros(timeoutMs) {
  if (timeoutMs === null) return 0;
  const micros = Math.ceil(timeoutMs * 1000);
  return micros > MAX_TIMEOUT_MICROS ? 0 : Math.max(1, micros);
}

module.exports = { RawTransport, RawConnection, RawStream, UnaryCall, requestHeader, startTimer, timeoutMicros };
