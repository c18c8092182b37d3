'use strict';
// The four gRPC call kinds (docs/PROTOCOL.md §7.2), as the client, both
// transports and the tests name them. A method's kind is its .proto's.

const MethodKind = Object.freeze({
  UNARY: 'unary',
  SERVER_STREAMING: 'server streaming',
  CLIENT_STREAMING: 'client streaming',
  BIDI_STREAMING: 'bidi streaming',
});

// The kind of a protobufjs Method.
function methodKindOf(rpc) {
  if (rpc.requestStream) return rpc.responseStream ? MethodKind.BIDI_STREAMING : MethodKind.CLIENT_STREAMING;
  return rpc.responseStream ? MethodKind.SERVER_STREAMING : MethodKind.UNARY;
}

// Whether calls of `kind` carry response messages as MESSAGE frames / a
// response stream (server streaming, bidi), and request messages as a
// request stream (client streaming, bidi).
const hasResponseStream = (kind) => kind === MethodKind.SERVER_STREAMING || kind === MethodKind.BIDI_STREAMING;
const hasRequestStream = (kind) => kind === MethodKind.CLIENT_STREAMING || kind === MethodKind.BIDI_STREAMING;

module.exports = { MethodKind, methodKindOf, hasResponseStream, hasRequestStream };
