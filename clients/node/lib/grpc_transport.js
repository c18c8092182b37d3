'use strict';
// Unary calls over gRPC with @grpc/grpc-js. Like RawTransport it carries
// encoded bytes (messages are encoded and decoded by the Client with the
// same protobufjs types on both transports), so grpc-js's serializers are
// the identity.

const grpc = require('@grpc/grpc-js');

const { RpcError, rpcError } = require('./status');

const identity = (bytes) => bytes;

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
    const grpcMetadata = new grpc.Metadata();
    for (const [key, value] of metadata) {
      grpcMetadata.add(key, key.endsWith('-bin') ? value : value.toString('latin1'));
    }
    const options = timeoutMs === null ? {} : { deadline: new Date(Date.now() + timeoutMs) };
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

  // Cancels every call in flight (they fail with CANCELLED) and closes the
  // channel. `error` is unused: grpc-js reports its own CANCELLED status.
  close() {
    for (const call of [...this.calls_]) call.cancel();
    this.client_.close();
  }
}

module.exports = { GrpcTransport };
