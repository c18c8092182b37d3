'use strict';
// Unary and streaming calls over gRPC with @grpc/grpc-js. Like RawTransport it carries
// encoded bytes (messages are encoded and decoded by the Client with the
// same protobufjs types on both transports), so grpc-js's serializers are
// the identity.

const net = require('node:net');

const grpc = require('@grpc/grpc-js');

const { MethodKind, hasResponseStream } = require('./method_kind');
const { Code, RpcError, rpcError } = require('./status');
const { describeTlsFailure, probeGrpcTlsFailure } = require('./tls');

const identity = (bytes) => bytes;
// Response messages taken from grpc-js and not yet consumed by the
// application before the call stops reading (then HTTP/2's flow control
// stops the server, as WINDOW_UPDATE does on raw).
const MAX_UNCONSUMED_MESSAGES = 16;

function grpcMetadataOf(metadata) {
  const grpcMetadata = new grpc.Metadata();
  for (const [key, value] of metadata) {
    grpcMetadata.add(key, key.endsWith('-bin') ? value : value.toString('latin1'));
  }
  return grpcMetadata;
}

function callOptionsOf(timeoutMs) {
  return timeoutMs === null ? {} : { deadline: new Date(Date.now() + timeoutMs) };
}

function metadataToObject(metadata) {
  if (!(metadata instanceof grpc.Metadata)) return {};
  const object = {};
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    object[key] = values.map((value) => (Buffer.isBuffer(value) ? Buffer.from(value) : String(value)));
  }
  return object;
}

// grpc-js's channel credentials for connect's checked `tls` option
// (lib/tls.js tlsSettings; null: plaintext). `insecure` keeps the
// encryption and skips verification (grpc-js honours rejectUnauthorized).
function channelCredentialsOf(settings) {
  if (settings === null) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(settings.ca, settings.key, settings.cert,
    settings.insecure ? { rejectUnauthorized: false } : {});
}

// grpc-js's details when no connection could be made (its load balancers:
// "No connection established. Last error: ..."), as opposed to a status the
// server sent, which is passed on untouched.
const CONNECTION_FAILED = /Last error: /;
// The details when the TCP connection came up and closed before HTTP/2's
// SETTINGS (grpc-js transport.js): what a TLS server does to a plaintext
// client.
const CLOSED_BEFORE_HTTP2 = /Last error: Failed to connect\b/;

class GrpcTransport {
  // `target`: what grpc-js takes ("host:port", "ipv4:A:P,B:Q", "dns:///NAME:PORT",
  // "unix:…"); `host`, `port`: the target's (first) host and port;
  // `limits`: { maxMessageBytes }; `tlsSettings`: null for plaintext, else
  // connect's checked `tls` option (lib/tls.js). `balanced` (a list or a
  // DNS name): grpc-js's own round_robin over what its resolver returns
  // (issue 13's D1: gRPC's balancing is never reimplemented here); over TLS
  // the certificate must name the server name, else the first HOST.
  constructor({ target, host, port = 0, limits, tlsSettings = null, balanced = false }) {
    const options = {
      'grpc.max_send_message_length': limits.maxMessageBytes,
      'grpc.max_receive_message_length': limits.maxMessageBytes,
    };
    if (tlsSettings !== null && tlsSettings.serverName !== null) {
      options['grpc.ssl_target_name_override'] = tlsSettings.serverName;
    }
    if (balanced) {
      options['grpc.service_config'] = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });
      if (!target.startsWith('dns:')) {
        // An ipv4:/ipv6: list's authority (and TLS name) is its first address.
        options['grpc.default_authority'] = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
        if (tlsSettings !== null && tlsSettings.serverName === null) options['grpc.ssl_target_name_override'] = host;
      }
    }
    this.client_ = new grpc.Client(target, channelCredentialsOf(tlsSettings), options);
    this.target_ = target;
    this.host_ = host;
    this.port_ = port;
    this.tlsSettings_ = tlsSettings;
    this.tls_ = tlsSettings === null ? null
      : { address: target, name: tlsSettings.serverName || host, alpn: 'h2', plaintextScheme: 'grpc' };
    // Calls in flight, cancelled by close().
    this.calls_ = new Set();
  }

  // The RpcError of a failed call: grpc-js's status, with a failed TLS
  // handshake (or a TLS/plaintext mismatch) said in words (lib/tls.js).
  error_(code, details, trailers) {
    if (code !== Code.UNAVAILABLE || !CONNECTION_FAILED.test(details)) return new RpcError(code, details, trailers);
    if (this.tls_ !== null) {
      const described = describeTlsFailure({ message: details }, this.tls_);
      return new RpcError(code, described === null ? details : described, trailers);
    }
    if (CLOSED_BEFORE_HTTP2.test(details)) {
      return new RpcError(code, `${this.target_} closed the connection before HTTP/2 started `
        + `(a TLS port? use grpcs://): ${details}`, trailers);
    }
    return new RpcError(code, details, trailers);
  }

  // error_'s RpcError, or a promise of it: a TLS connection closed before
  // HTTP/2 with no words is probed (lib/tls.js probeGrpcTlsFailure).
  explainedError_(code, details, trailers) {
    const error = this.error_(code, details, trailers);
    if (this.tls_ === null || error.details !== details || !CLOSED_BEFORE_HTTP2.test(details)) {
      return error;
    }
    return probeGrpcTlsFailure(this.host_, this.port_, this.tlsSettings_, this.tls_).then(
      (words) => (words === null ? error : new RpcError(code, `${words} (grpc-js: ${details})`, trailers)));
  }

  // `metadata`: [[key, string | Buffer]] already validated. Resolves with
  // the response message bytes.
  unaryCall(method, message, { timeoutMs, metadata }) {
    const grpcMetadata = grpcMetadataOf(metadata);
    const options = callOptionsOf(timeoutMs);
    return new Promise((resolve, reject) => {
      const call = this.client_.makeUnaryRequest(method, identity, identity, message, grpcMetadata, options,
        (error, response) => {
          this.calls_.delete(call);
          if (error) {
            Promise.resolve(this.explainedError_(error.code, error.details, metadataToObject(error.metadata)))
              .then(reject);
          } else if (!Buffer.isBuffer(response)) {
            reject(rpcError('INTERNAL', 'no response message'));
          } else {
            resolve(response);
          }
        });
      this.calls_.add(call);
    });
  }

  // Opens a streaming call of `kind`; returns its handle (the contract in
  // stream_handle.js). grpc-js reports the end as its 'status' event, which
  // for a response stream may come before the last messages left the
  // stream, so the call ends once both the status and the stream's end are in.
  openStream(method, kind, request, { timeoutMs, metadata }, sink) {
    const grpcMetadata = grpcMetadataOf(metadata);
    const options = callOptionsOf(timeoutMs);
    let response = null;
    let callbackError = null;
    let call;
    switch (kind) {
      case MethodKind.SERVER_STREAMING:
        call = this.client_.makeServerStreamRequest(method, identity, identity, request, grpcMetadata, options);
        break;
      case MethodKind.CLIENT_STREAMING:
        call = this.client_.makeClientStreamRequest(method, identity, identity, grpcMetadata, options,
          (error, message) => {
            if (error) callbackError = error; else response = message;
          });
        break;
      default:
        call = this.client_.makeBidiStreamRequest(method, identity, identity, grpcMetadata, options);
        break;
    }
    this.calls_.add(call);
    let done = false;
    let status = null;
    let readEnded = !hasResponseStream(kind);
    let unconsumed = 0;
    const finish = () => {
      if (done || status === null || !readEnded) return;
      done = true;
      this.calls_.delete(call);
      const trailers = metadataToObject(status.metadata);
      let error = null;
      if (status.code !== Code.OK) {
        error = this.explainedError_(status.code, status.details, trailers);
        if (error instanceof Promise) {
          error.then((explained) => sink.onEnd({ error: explained, response: null, trailers }));
          return;
        }
      } else if (callbackError !== null) {
        // grpc-js's own verdict on an OK status without a response message.
        error = new RpcError(callbackError.code, callbackError.details, trailers);
      } else if (kind === MethodKind.CLIENT_STREAMING && !Buffer.isBuffer(response)) {
        error = rpcError('INTERNAL', 'no response message', trailers);
      }
      sink.onEnd({ error, response: error === null ? response : null, trailers });
    };
    // Failures arrive as 'status' too; without a listener 'error' would throw.
    call.on('error', () => {});
    call.on('status', (received) => {
      status = received;
      finish();
    });
    if (hasResponseStream(kind)) {
      call.on('data', (bytes) => {
        if (done) return;
        if (++unconsumed >= MAX_UNCONSUMED_MESSAGES) call.pause();
        sink.onMessage(bytes);
      });
      call.on('end', () => {
        readEnded = true;
        finish();
      });
    }
    return {
      write: (bytes, written) => {
        if (done) {
          written();
          return;
        }
        call.write(bytes, () => written());
      },
      end: () => {
        if (!done && kind !== MethodKind.SERVER_STREAMING) call.end();
      },
      cancel: () => {
        if (done) return;
        done = true;
        this.calls_.delete(call);
        call.cancel();
      },
      consumed: () => {
        if (--unconsumed < MAX_UNCONSUMED_MESSAGES && call.isPaused()) call.resume();
      },
    };
  }

  // Cancels every call in flight (they fail with CANCELLED) and closes the
  // channel. `error` is unused: grpc-js reports its own CANCELLED status.
  close() {
    for (const call of [...this.calls_]) call.cancel();
    this.client_.close();
  }
}

module.exports = { GrpcTransport };
