'use strict';
// The transport-independent half of a client: finds a method in the
// contract, turns plain request objects into protobuf bytes and response
// bytes back into plain objects, checks options, and hands the bytes to a
// transport (RawTransport or GrpcTransport). Both transports therefore
// accept and return exactly the same things. Streaming calls are
// ClientCall objects (stream_call.js) over a transport's stream handle
// (stream_handle.js).

const { normalizeMetadata, withChannelMetadata } = require('./metadata');
const { MethodKind, methodKindOf } = require('./method_kind');
const { RpcError, rpcError } = require('./status');
const { ClientCall, feedRequests } = require('./stream_call');
const { failedStream } = require('./stream_handle');

const ECHO = '/dualrpc.v1.FileService/Echo';
const LIST_DIRECTORY = '/dualrpc.v1.FileService/ListDirectory';
const WALK_TREE = '/dualrpc.v1.FileService/WalkTree';
const ECHO_STREAM = '/dualrpc.v1.FileService/EchoStream';

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

// Whether `value` is a sequence of requests rather than an options object.
function isIterable(value) {
  return value !== null && typeof value === 'object'
    && (typeof value[Symbol.iterator] === 'function' || typeof value[Symbol.asyncIterator] === 'function');
}

// An echo payload as echo() takes it.
function payloadBytes(payload) {
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (!(payload instanceof Uint8Array)) {
    throw rpcError('INVALID_ARGUMENT', 'echo: want a Buffer (or a string) payload');
  }
  return payload;
}

class Client {
  // `contract`: the resolved protobufjs Root; `defaultDeadlineMs` applies
  // to calls without their own; `maxMessageBytes` bounds requests and
  // responses on both transports; `channelMetadata` ([[key, Buffer]],
  // metadata.js channelMetadata) goes with every call, on both transports,
  // unless the call sets the same key.
  constructor({ transport, contract, defaultDeadlineMs, maxMessageBytes, channelMetadata = [] }) {
    this.transport_ = transport;
    this.channelMetadata_ = channelMetadata;
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
    const { requestType, responseType } = this.method_(method, MethodKind.UNARY);
    const timeoutMs = relativeTimeout(deadlineMs);
    const entries = withChannelMetadata(this.channelMetadata_, normalizeMetadata(metadata));
    const message = this.encode_(requestType, request);
    const response = await this.transport_.unaryCall(method, message, { timeoutMs, metadata: entries });
    return this.decode_(responseType, response);
  }

  // Echo: resolves with the payload the server sent back (a Buffer).
  async echo(payload, options) {
    const response = await this.call(ECHO, { payload: payloadBytes(payload) }, options);
    return response.payload;
  }

  // ListDirectory({ path, pageSize, pageToken }): resolves with
  // { entries: [...], nextPageToken }.
  listDirectory(request = {}, options) {
    return this.call(LIST_DIRECTORY, request, options);
  }

  // Server streaming: one request, then the responses as a ClientCall
  // (stream_call.js): `for await (const response of call)`, call.cancel(),
  // await call.trailers. Failures, local ones included, are the call's
  // error: the iterator throws an RpcError.
  serverStream(method, request = {}, options = {}) {
    return this.openCall_(method, MethodKind.SERVER_STREAMING, options, request);
  }

  // Client streaming: writes every request of `requests` (an iterable or an
  // async iterable of request objects), half-closes, and resolves with the
  // response; rejects with RpcError.
  clientStream(method, requests, options = {}) {
    if (!isIterable(requests)) {
      return Promise.reject(rpcError('INVALID_ARGUMENT', 'clientStream: want an iterable or async iterable of requests'));
    }
    const call = this.clientStreamCall(method, options);
    feedRequests(call, requests);
    return call.response;
  }

  // Client streaming, written by hand: call.write(request), call.end(),
  // then await call.response.
  clientStreamCall(method, options = {}) {
    return this.openCall_(method, MethodKind.CLIENT_STREAMING, options);
  }

  // Bidi streaming: a ClientCall to call.write(request), call.end(),
  // `for await (const response of call)`, call.cancel(). With `requests`
  // (an iterable or async iterable), the call writes them itself and then
  // half-closes.
  bidiStream(method, requests, options) {
    if (!isIterable(requests)) return this.openCall_(method, MethodKind.BIDI_STREAMING, requests || {});
    const call = this.openCall_(method, MethodKind.BIDI_STREAMING, options || {});
    feedRequests(call, requests);
    return call;
  }

  // WalkTree({ path, maxDepth }): every TreeEntry of the walk, in order,
  // whatever the batching into WalkTreeResponses, as a ClientCall.
  walkTree(request = {}, options = {}) {
    return this.openCall_(WALK_TREE, MethodKind.SERVER_STREAMING, options, request,
      (response) => response.entries);
  }

  // EchoStream: writes payloads (Buffers or strings) and yields the payloads
  // the server sent back (Buffers), as a ClientCall; with `payloads` (an
  // iterable or async iterable, e.g. an array) it writes them itself.
  echoStream(payloads, options) {
    const toRequest = (payload) => ({ payload: payloadBytes(payload) });
    const fromResponse = (response) => [response.payload];
    if (!isIterable(payloads)) {
      return this.openCall_(ECHO_STREAM, MethodKind.BIDI_STREAMING, payloads || {}, undefined, fromResponse, toRequest);
    }
    const call = this.openCall_(ECHO_STREAM, MethodKind.BIDI_STREAMING, options || {}, undefined, fromResponse,
      toRequest);
    feedRequests(call, payloads);
    return call;
  }

  // A ClientCall for `method`, which must be of `kind`. `request`: the one
  // request of a server-streaming call. `items(response)` turns a decoded
  // response into the objects the call yields, `toRequest(written)` what the
  // application writes into a request object. Local failures (unknown
  // method, bad options, a request that does not encode) fail the call.
  openCall_(method, kind, { deadlineMs = this.defaultDeadlineMs_, metadata } = {}, request = undefined,
    items = (response) => [response], toRequest = (written) => written) {
    let types = null;
    const encode = (written) => this.encode_(types.requestType, toRequest(written));
    const call = new ClientCall({
      kind,
      encode,
      decode: (bytes) => items(this.decode_(types.responseType, bytes)),
    });
    try {
      if (this.closed_) throw rpcError('CANCELLED', 'the client is closed');
      types = this.method_(method, kind);
      const timeoutMs = relativeTimeout(deadlineMs);
      const entries = withChannelMetadata(this.channelMetadata_, normalizeMetadata(metadata));
      const message = kind === MethodKind.SERVER_STREAMING ? encode(request) : null;
      call.attach(this.transport_.openStream(method, kind, message, { timeoutMs, metadata: entries }, call));
    } catch (error) {
      if (!(error instanceof RpcError)) throw error;
      call.attach(failedStream(call, error));
    }
    return call;
  }

  // Fails the calls in flight with CANCELLED and releases the connections.
  // Later calls reject with CANCELLED.
  close() {
    if (this.closed_) return;
    this.closed_ = true;
    this.transport_.close(rpcError('CANCELLED', 'the client was closed'));
  }

  // { requestType, responseType } of a method of `kind`, or throws
  // UNIMPLEMENTED (unknown method) or INVALID_ARGUMENT (another kind).
  method_(path, kind) {
    let method = this.methods_.get(path);
    if (method === undefined) {
      method = this.lookUpMethod_(path);
      this.methods_.set(path, method);
    }
    if (method.kind !== kind) {
      throw rpcError('INVALID_ARGUMENT', `${path} is a ${method.kind} method, not ${kind}: ` +
        'use call (unary), serverStream, clientStream or bidiStream');
    }
    return method;
  }

  lookUpMethod_(path) {
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
    return { requestType: rpc.resolvedRequestType, responseType: rpc.resolvedResponseType, kind: methodKindOf(rpc) };
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
    let message;
    try {
      const bytes = type.encode(type.fromObject(request)).finish();
      message = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      throw rpcError('INVALID_ARGUMENT', `cannot encode ${type.fullName.slice(1)}: ${error.message}`);
    }
    if (message.length > this.maxMessageBytes_) {
      throw rpcError('RESOURCE_EXHAUSTED',
        `request message of ${message.length} bytes exceeds the limit of ${this.maxMessageBytes_} bytes`);
    }
    return message;
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
