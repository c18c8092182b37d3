'use strict';
// The transport-independent half of a client: finds a method in the
// contract, turns plain request objects into protobuf bytes and response
// bytes back into plain objects, checks options, and hands the bytes to a
// transport (RawTransport or GrpcTransport). Both transports therefore
// accept and return exactly the same things.

const { normalizeMetadata } = require('./metadata');
const { RpcError, rpcError } = require('./status');

const ECHO = '/dualrpc.v1.FileService/Echo';
const LIST_DIRECTORY = '/dualrpc.v1.FileService/ListDirectory';

// Plain objects in the shape of proto3 JSON: camelCase names, enum values
// as names ("TYPE_FILE"), 64-bit integers as decimal strings (exact), bytes
// as Buffers, and every field present (defaults included).
const TO_OBJECT_OPTIONS = Object.freeze({
  enums: String,
  longs: String,
  defaults: true,
  arrays: true,
});

// `deadlineMs` as the transports take it: null for none; rejects bad values.
function relativeTimeout(deadlineMs) {
  if (deadlineMs === undefined || deadlineMs === null || deadlineMs === Infinity) return null;
  if (typeof deadlineMs !== 'number' || Number.isNaN(deadlineMs)) {
    throw rpcError('INVALID_ARGUMENT', `deadlineMs: want a number of milliseconds, not ${String(deadlineMs)}`);
  }
  if (deadlineMs <= 0) throw rpcError('DEADLINE_EXCEEDED', 'deadline exceeded before the call');
  return deadlineMs;
}

class Client {
  // `contract`: the resolved protobufjs Root; `defaultDeadlineMs` applies
  // to calls without their own; `maxMessageBytes` bounds requests and
  // responses on both transports.
  constructor({ transport, contract, defaultDeadlineMs, maxMessageBytes }) {
    this.transport_ = transport;
    this.contract_ = contract;
    this.defaultDeadlineMs_ = defaultDeadlineMs;
    this.maxMessageBytes_ = maxMessageBytes;
    this.methods_ = new Map();
    this.closed_ = false;
  }

  // Calls any unary method of the contract by its gRPC path, e.g.
  // '/dualrpc.v1.FileService/Echo', with a plain request object (as taken by
  // protobufjs fromObject: camelCase fields, Buffers or base64 for bytes).
  // Resolves with the response as a plain object; rejects with RpcError.
  async call(method, request = {}, { deadlineMs = this.defaultDeadlineMs_, metadata } = {}) {
    if (this.closed_) throw rpcError('CANCELLED', 'the client is closed');
    const { requestType, responseType } = this.method_(method);
    const timeoutMs = relativeTimeout(deadlineMs);
    const entries = normalizeMetadata(metadata);
    const message = this.encode_(requestType, request);
    if (message.length > this.maxMessageBytes_) {
      throw rpcError('RESOURCE_EXHAUSTED',
        `request message of ${message.length} bytes exceeds the limit of ${this.maxMessageBytes_} bytes`);
    }
    const response = await this.transport_.unaryCall(method, message, { timeoutMs, metadata: entries });
    return this.decode_(responseType, response);
  }

  // Echo: resolves with the payload the server sent back (a Buffer).
  async echo(payload, options) {
    if (typeof payload === 'string') payload = Buffer.from(payload, 'utf8');
    if (!(payload instanceof Uint8Array)) {
      throw rpcError('INVALID_ARGUMENT', 'echo: want a Buffer (or a string) payload');
    }
    const response = await this.call(ECHO, { payload }, options);
    return response.payload;
  }

  // ListDirectory({ path, pageSize, pageToken }): resolves with
  // { entries: [...], nextPageToken }.
  listDirectory(request = {}, options) {
    return this.call(LIST_DIRECTORY, request, options);
  }

  // Fails the calls in flight with CANCELLED and releases the connections.
  // Later calls reject with CANCELLED.
  close() {
    if (this.closed_) return;
    this.closed_ = true;
    this.transport_.close(rpcError('CANCELLED', 'the client was closed'));
  }

  // { requestType, responseType } of a unary method, or throws UNIMPLEMENTED.
  method_(path) {
    let method = this.methods_.get(path);
    if (method !== undefined) return method;
    const match = /^\/([A-Za-z_][\w.]*)\/([A-Za-z_]\w*)$/.exec(typeof path === 'string' ? path : '');
    let rpc = null;
    if (match !== null) {
      try {
        rpc = this.contract_.lookupService(match[1]).methods[match[2]] || null;
      } catch (error) {
        rpc = null;  // Not a service of the contract.
      }
    }
    if (rpc === null) throw rpcError('UNIMPLEMENTED', `unknown method ${path}`);
    if (rpc.requestStream || rpc.responseStream) {
      throw rpcError('UNIMPLEMENTED', `${path} is a streaming method; this client makes unary calls only`);
    }
    method = { requestType: rpc.resolvedRequestType, responseType: rpc.resolvedResponseType };
    this.methods_.set(path, method);
    return method;
  }

  encode_(type, request) {
    if (request === null || typeof request !== 'object') {
      throw rpcError('INVALID_ARGUMENT', `want a ${type.fullName.slice(1)} object`);
    }
    // fromObject would silently drop a misspelt field (e.g. page_size).
    const unknown = Object.keys(request).filter((key) => !(key in type.fields));
    if (unknown.length > 0) {
      throw rpcError('INVALID_ARGUMENT', `${type.fullName.slice(1)} has no field ${unknown.join(', ')} ` +
        `(fields: ${Object.keys(type.fields).join(', ')})`);
    }
    try {
      const bytes = type.encode(type.fromObject(request)).finish();
      return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      throw rpcError('INVALID_ARGUMENT', `cannot encode ${type.fullName.slice(1)}: ${error.message}`);
    }
  }

  decode_(type, bytes) {
    if (bytes.length > this.maxMessageBytes_) {
      throw rpcError('RESOURCE_EXHAUSTED',
        `response message of ${bytes.length} bytes exceeds the limit of ${this.maxMessageBytes_} bytes`);
    }
    try {
      return type.toObject(type.decode(bytes), TO_OBJECT_OPTIONS);
    } catch (error) {
      throw rpcError('INTERNAL', `cannot parse ${type.fullName.slice(1)}: ${error.message}`);
    }
  }
}

module.exports = { Client, RpcError };
