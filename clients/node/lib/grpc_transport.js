'use strict';
// Unary and streaming calls over gRPC with @grpc/grpc-js. Like RawTransport it carries
// encoded bytes (messages are encoded and decoded by the Client with the
// same protobufjs types on both transports), so grpc-js's serializers are
// the identity.

const grpc = require('@grpc/grpc-js');

const { MethodKind, hasResponseStream } = require('./method_kind');
const { Code, RpcError, rpcError } = require('./status');

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

class GrpcTransport {
  // `target`: "host:port"; `limits`: { maxMessageBytes }.
  constructor({ target, limits }) {
    this.client_ = new grpc.Client(target, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': limits.maxMessageBytes,
      'grpc.max_receive_message_length': limits.maxMessageBytes,
    });
    // Calls in flight, cancelled by close().
    this.calls_ = new Set();
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
            reject(new RpcError(error.code, error.details, metadataToObject(error.metadata)));
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
        error = new RpcError(status.code, status.details, trailers);
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
