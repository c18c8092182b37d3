'use strict';
// Client-side load balancing for raw targets with several addresses
// (raw://H1:P1,H2:P2) or a DNS name (raw+dns:///NAME:PORT): issue 13's
// decision D2, the same behaviour as the C++ and Python clients.
//
//   * Backends: one per address of the list, or per address NAME resolves
//     to (dns.promises.lookup, all A/AAAA records, deduplicated; resolved
//     again every dnsRefreshMs and at once when every backend is ejected).
//     Each backend has at most one connection that takes new calls.
//   * Picking: round-robin, per call (a stream is one call), over backends
//     whose connection is up (the server's preface arrived).
//   * Ejection: a failed connect, a connection that closes or fails with
//     calls outstanding, an unanswered health-check PING (RawConnection's
//     healthCheck), or a GOAWAY (its calls still finish there). An ejected
//     backend reconnects after a backoff (gRPC's connection backoff) and is
//     picked again once that connection is up.
//   * Calls that never reached a server (waiting for a backend; a GOAWAY's
//     last_call_id shows they were not run) go to another backend, at most
//     once per backend, within their deadline. A call that was sent and
//     whose connection failed fails with UNAVAILABLE (methods are not known
//     to be idempotent).
//   * No backend: when every backend is ejected (or was tried by the call),
//     a call fails at once with UNAVAILABLE "no raw backend is available
//     (N ejected): <last error>" (gRPC's default, wait_for_ready false).
//
// All state is owned by the BalancedRawTransport and touched only from
// Node's event loop.

const dns = require('node:dns');
const net = require('node:net');

const { RawConnection, RawStream, UnaryCall, requestHeader, startTimer } = require('./raw_transport');
const { rpcError } = require('./status');
const { failedStream } = require('./stream_handle');

// D2's defaults; connect() options override them (index.js).
const DEFAULT_HEALTH_CHECK_INTERVAL_MS = 5000;
const DEFAULT_HEALTH_CHECK_TIMEOUT_MS = 2000;
const DEFAULT_DNS_REFRESH_MS = 30000;
// gRPC's connection backoff (doc/connection-backoff.md).
const DEFAULT_BACKOFF = Object.freeze({ initialMs: 1000, multiplier: 1.6, jitter: 0.2, maxMs: 120000 });
// setTimeout's longest delay (longer ones fire at once).
const MAX_TIMER_MS = 2 ** 31 - 1;

const BackendState = Object.freeze({
  IDLE: 'idle',              // No connection; connects when the transport next picks.
  CONNECTING: 'connecting',  // Its connection is coming up; not ejected.
  READY: 'ready',            // Its connection is up: picked.
  EJECTED: 'ejected',        // Failed: waits for its backoff, then reconnects; not picked until up.
});

// gRPC's connection backoff: the first delay is `initialMs`, each later one
// `multiplier` times the last, capped at `maxMs`, each randomised by
// ±`jitter`; reset() after a successful connect.
class Backoff {
  constructor({ initialMs, multiplier, jitter, maxMs }, random = Math.random) {
    this.initialMs_ = initialMs;
    this.multiplier_ = multiplier;
    this.jitter_ = jitter;
    this.maxMs_ = maxMs;
    this.random_ = random;
    this.currentMs_ = initialMs;
  }

  // The delay before the next attempt, in ms.
  next() {
    const delay = this.currentMs_ * (1 + this.jitter_ * (2 * this.random_() - 1));
    this.currentMs_ = Math.min(this.currentMs_ * this.multiplier_, this.maxMs_);
    return delay;
  }

  reset() {
    this.currentMs_ = this.initialMs_;
  }
}

// One address and its connection. Owned by a BalancedRawTransport, which
// it tells of every change of state (onBackendChanged_).
class Backend {
  constructor(transport, { host, port }) {
    this.transport_ = transport;
    this.host = host;
    this.port = port;
    this.address = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    this.state = BackendState.IDLE;
    // The connection that takes new calls (null while IDLE or waiting for its backoff).
    this.connection_ = null;
    this.backoff_ = new Backoff(transport.backoff_);
    this.retryTimer_ = null;
    this.removed_ = false;
  }

  // The connection for a new call, or null when the backend is not READY.
  // A connection that stopped taking calls (its call ids ran out) is
  // drained and replaced.
  connectionForCall() {
    if (this.state !== BackendState.READY) return null;
    if (this.connection_.acceptsCalls()) return this.connection_;
    this.connection_.drain();
    this.connection_ = null;
    this.state = BackendState.IDLE;
    this.connect();
    return null;
  }

  // Starts a connection unless there is one or a backoff is running.
  connect() {
    if (this.removed_ || this.connection_ !== null || this.retryTimer_ !== null) return;
    if (this.state === BackendState.IDLE) this.state = BackendState.CONNECTING;
    const connection = this.transport_.newConnection_(this, {
      onReady: () => this.onReady_(connection),
      onGoaway: () => this.onGoaway_(connection),
      onClosed: (info) => this.onClosed_(connection, info),
    });
    this.connection_ = connection;
  }

  // No longer an address of the target (DNS): takes no new calls; its
  // calls finish on its connection.
  remove() {
    this.removed_ = true;
    clearTimeout(this.retryTimer_);
    this.retryTimer_ = null;
    if (this.connection_ !== null) this.connection_.drain();
    this.connection_ = null;
    this.state = BackendState.EJECTED;
  }

  onReady_(connection) {
    if (connection !== this.connection_) return;
    this.state = BackendState.READY;
    this.backoff_.reset();
    this.transport_.onBackendChanged_();
  }

  // Drain: new calls go elsewhere at once; the connection answers the calls
  // it ran and closes when they are done.
  onGoaway_(connection) {
    if (connection !== this.connection_) return;
    this.connection_ = null;
    this.eject_(rpcError('UNAVAILABLE', `${this.address} is going away`));
  }

  onClosed_(connection, { error, hadCalls, healthCheckFailed }) {
    if (connection !== this.connection_) return;
    this.connection_ = null;
    const idleClose = this.state === BackendState.READY && !hadCalls && !healthCheckFailed;
    if (idleClose) {
      // An idle connection the server (or the network) closed: reconnect on
      // the next pick; a server that is gone then fails that connect.
      this.state = BackendState.IDLE;
      this.transport_.onBackendChanged_();
      return;
    }
    this.eject_(error || rpcError('UNAVAILABLE', `connection to ${this.address} closed`));
  }

  eject_(error) {
    this.state = BackendState.EJECTED;
    this.transport_.lastError_ = error;
    if (!this.removed_) {
      this.retryTimer_ = setTimeout(() => {
        this.retryTimer_ = null;
        this.connect();
      }, Math.min(this.backoff_.next(), MAX_TIMER_MS));
      this.retryTimer_.unref();
    }
    this.transport_.onBackendChanged_();
  }

  close() {
    this.removed_ = true;
    clearTimeout(this.retryTimer_);
    this.retryTimer_ = null;
  }
}

// A call that has not reached a server yet: waiting for a backend, or
// handed back by a GOAWAY. `tried`: the backends it was sent to.
class PendingCall {
  constructor({ timeoutMs, start, fail, isDone }) {
    this.deadlineAt = timeoutMs === null ? null : performance.now() + timeoutMs;
    this.tried = new Set();
    // The error of its last attempt (a GOAWAY's "not run"), else null.
    this.lastError = null;
    // start(connection): sends it; fail(error): ends it; isDone(): ended (deadline, cancel).
    this.start = start;
    this.fail = fail;
    this.isDone = isDone;
  }

  // ms left before the deadline (null: none).
  timeLeftMs() {
    return this.deadlineAt === null ? null : this.deadlineAt - performance.now();
  }
}

// Unary and streaming calls balanced over the backends of a raw target
// (the contract of RawTransport: unaryCall, openStream, close).
class BalancedRawTransport {
  // `addresses`: [{ host, port }] of a list; or `dnsName` and `port`:
  // the backends are NAME's addresses. `tlsSettings`: null or connect's
  // checked `tls` option; the certificate of every backend must name
  // `tlsSettings.serverName`, else `tlsName` (the first HOST of a list,
  // NAME of a DNS target). `limits`, `connectTimeoutMs` and `wire` as for
  // RawTransport. `healthCheck`: { intervalMs, timeoutMs } (Infinity
  // interval: none); `backoff`: { initialMs, multiplier, jitter, maxMs };
  // `dnsRefreshMs`: how often NAME is resolved again; `lookup`: dns.promises.lookup's
  // signature (read at each resolution, so a test can replace it).
  constructor({
    addresses = [], dnsName = null, port = 0, tlsName, limits, connectTimeoutMs, wire, tlsSettings = null,
    healthCheck = { intervalMs: DEFAULT_HEALTH_CHECK_INTERVAL_MS, timeoutMs: DEFAULT_HEALTH_CHECK_TIMEOUT_MS },
    backoff = DEFAULT_BACKOFF, dnsRefreshMs = DEFAULT_DNS_REFRESH_MS, lookup = null,
  }) {
    this.listAddresses_ = addresses;
    this.dnsName_ = dnsName;
    this.port_ = port;
    this.limits_ = limits;
    this.connectTimeoutMs_ = connectTimeoutMs;
    this.wire_ = wire;
    this.tlsSettings_ = tlsSettings === null ? null
      : { ...tlsSettings, serverName: tlsSettings.serverName || tlsName };
    this.healthCheck_ = healthCheck;
    this.backoff_ = backoff;
    this.dnsRefreshMs_ = dnsRefreshMs;
    this.lookup_ = lookup;
    this.backends_ = [];
    this.next_ = 0;
    // Calls waiting for a backend, in arrival order.
    this.waiting_ = [];
    // Every connection not yet closed, draining ones included.
    this.connections_ = new Set();
    this.started_ = false;
    this.resolving_ = false;
    this.refreshTimer_ = null;
    this.lastError_ = null;
    // Whether every backend was ejected at the last change (DNS is
    // resolved again on the change to true, not on every change after).
    this.allEjected_ = false;
    this.closed_ = false;
  }

  unaryCall(method, message, { timeoutMs, metadata }) {
    try {
      requestHeader(this.wire_, this.limits_, method, timeoutMs, metadata);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      // Ended (resolved or rejected); the deadline timer while the call
      // waits for a backend (on a connection, the connection's runs).
      let done = false;
      let cancelTimer = () => {};
      const fail = (error) => {
        if (done) return;
        done = true;
        cancelTimer();
        reject(error);
      };
      const waitForBackend = () => {
        cancelTimer = pending.deadlineAt === null ? () => {}
          : startTimer(pending.timeLeftMs(), () => fail(rpcError('DEADLINE_EXCEEDED', 'deadline exceeded')));
      };
      const pending = new PendingCall({
        timeoutMs,
        isDone: () => done,
        fail,
        start: (connection) => {
          cancelTimer();
          const left = pending.timeLeftMs();
          const header = requestHeader(this.wire_, this.limits_, method, left, metadata);
          const call = new UnaryCall((response) => {
            done = true;
            resolve(response);
          }, (error) => {
            done = true;
            reject(error);
          }, (error) => this.sendAgain_(pending, error, waitForBackend));
          connection.startUnary(call, header, message, left);
        },
      });
      waitForBackend();
      this.place_(pending);
    });
  }

  openStream(method, kind, request, { timeoutMs, metadata }, sink) {
    try {
      requestHeader(this.wire_, this.limits_, method, timeoutMs, metadata);
    } catch (error) {
      return failedStream(sink, error);
    }
    const entries = metadata.map(([key, value]) => ({ key, value }));
    let pending = null;
    const stream = new RawStream(null, {
      kind, method, metadata: entries, request, timeoutMs, sink,
      onNotRun: (error) => this.sendAgain_(pending, error),
    });
    pending = new PendingCall({
      timeoutMs,
      isDone: () => stream.done,
      fail: (error) => stream.settle(error),
      start: (connection) => connection.attachStream(stream),
    });
    this.place_(pending);
    return stream;
  }

  // Fails every waiting call with `error` and closes every connection.
  close(error) {
    this.closed_ = true;
    clearTimeout(this.refreshTimer_);
    for (const backend of this.backends_) backend.close();
    for (const pending of this.waiting_.splice(0)) pending.fail(error);
    for (const connection of [...this.connections_]) connection.abort(error);
  }

  // --- from the backends ---

  newConnection_(backend, { onReady, onGoaway, onClosed }) {
    const connection = new RawConnection({
      host: backend.host,
      port: backend.port,
      path: '',
      limits: this.limits_,
      connectTimeoutMs: this.connectTimeoutMs_,
      wire: this.wire_,
      tlsSettings: this.tlsSettings_,
      healthCheck: this.healthCheck_,
      onReady,
      onGoaway,
      onClosed: (closed, info) => {
        this.connections_.delete(closed);
        onClosed(info);
      },
    });
    this.connections_.add(connection);
    return connection;
  }

  // A backend came up, went down or was ejected: the waiting calls are
  // placed again, and a DNS name is resolved again once every backend is ejected.
  onBackendChanged_() {
    if (this.closed_) return;
    const allEjected = this.backends_.length > 0
      && this.backends_.every((backend) => backend.state === BackendState.EJECTED);
    if (allEjected && !this.allEjected_ && this.dnsName_ !== null) this.resolve_();
    this.allEjected_ = allEjected;
    const waiting = this.waiting_;
    this.waiting_ = [];
    for (const pending of waiting) this.place_(pending);
  }

  // --- internals ---

  // A call handed back by a GOAWAY (it was not run): placed again, on a
  // backend it was not sent to. `rearm` restarts its deadline timer
  // (the connection's is gone).
  sendAgain_(pending, error, rearm = () => {}) {
    pending.lastError = error;
    rearm();
    this.place_(pending);
  }

  // Sends `pending` on the next READY backend it has not tried, or keeps it
  // waiting while a backend is coming up (first connect, DNS), or fails it.
  place_(pending) {
    if (pending.isDone()) return;
    if (this.closed_) {
      pending.fail(rpcError('CANCELLED', 'the client was closed'));
      return;
    }
    this.start_();
    const left = pending.timeLeftMs();
    if (left !== null && left <= 0) {
      pending.fail(rpcError('DEADLINE_EXCEEDED', 'deadline exceeded'));
      return;
    }
    const count = this.backends_.length;
    for (let step = 0; step < count; step += 1) {
      const backend = this.backends_[(this.next_ + step) % count];
      if (pending.tried.has(backend)) continue;
      const connection = backend.connectionForCall();
      if (connection === null) continue;
      this.next_ = (this.next_ + step + 1) % count;
      pending.tried.add(backend);
      pending.start(connection);
      return;
    }
    const untried = this.backends_.filter((backend) => !pending.tried.has(backend));
    for (const backend of untried) if (backend.state === BackendState.IDLE) backend.connect();
    const comingUp = untried.some((backend) => backend.state === BackendState.CONNECTING);
    if (comingUp || this.resolving_) {
      this.waiting_.push(pending);
      return;
    }
    if (untried.length === 0 && pending.lastError !== null) {
      pending.fail(pending.lastError);
      return;
    }
    const ejected = this.backends_.filter((backend) => backend.state === BackendState.EJECTED).length;
    const last = this.lastError_ === null ? 'no addresses' : this.lastError_.details;
    pending.fail(rpcError('UNAVAILABLE', `no raw backend is available (${ejected} ejected): ${last}`));
  }

  // The first call: backends for the list's addresses, or NAME resolved.
  start_() {
    if (this.started_) return;
    this.started_ = true;
    if (this.dnsName_ === null) {
      this.backends_ = this.listAddresses_.map((address) => new Backend(this, address));
      for (const backend of this.backends_) backend.connect();
    } else {
      this.resolve_();
    }
  }

  // Resolves NAME (one resolution at a time) and keeps the backends of the
  // addresses that remain, adds the new ones, removes the others; then
  // resolves again after dnsRefreshMs. A failed resolution keeps the
  // backends there are.
  resolve_() {
    if (this.resolving_ || this.closed_) return;
    this.resolving_ = true;
    clearTimeout(this.refreshTimer_);
    const lookup = this.lookup_ || dns.promises.lookup;
    Promise.resolve()
      .then(() => lookup(this.dnsName_, { all: true }))
      .then((records) => this.updateBackends_(records), (error) => {
        this.lastError_ = rpcError('UNAVAILABLE', `cannot resolve ${this.dnsName_}: ${error.message}`);
      })
      .then(() => {
        this.resolving_ = false;
        if (this.closed_) return;
        this.refreshTimer_ = setTimeout(() => this.resolve_(), Math.min(this.dnsRefreshMs_, MAX_TIMER_MS));
        this.refreshTimer_.unref();
        this.onBackendChanged_();
      });
  }

  updateBackends_(records) {
    if (this.closed_) return;
    const hosts = [...new Set(records.map((record) => record.address))];
    if (hosts.length === 0) {
      this.lastError_ = rpcError('UNAVAILABLE', `${this.dnsName_} has no addresses`);
      return;
    }
    const kept = new Map(this.backends_.map((backend) => [backend.host, backend]));
    this.backends_ = hosts.map((host) => {
      const backend = kept.get(host) || new Backend(this, { host, port: this.port_ });
      kept.delete(host);
      return backend;
    });
    for (const gone of kept.values()) gone.remove();
    this.next_ %= this.backends_.length;
    for (const backend of this.backends_) backend.connect();
  }
}

module.exports = {
  BalancedRawTransport,
  Backoff,
  BackendState,
  DEFAULT_BACKOFF,
  DEFAULT_DNS_REFRESH_MS,
  DEFAULT_HEALTH_CHECK_INTERVAL_MS,
  DEFAULT_HEALTH_CHECK_TIMEOUT_MS,
};
