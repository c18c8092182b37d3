'use strict';
// The seam between a streaming call (stream_call.js) and a transport
// (raw_transport.js, grpc_transport.js). A transport's
//
//   openStream(method, kind, request, { timeoutMs, metadata }, sink) -> handle
//
// starts one call of `kind` (method_kind.js); `request` is the one request
// of a server-streaming call (encoded bytes), else null; `timeoutMs` (null:
// none) covers the whole call; `metadata` is [[key, Buffer]], validated.
//
// The handle, called only on Node's event loop:
//   write(bytes, done)  sends one request message (client/bidi streaming).
//                       `done()` is called once the transport takes the next:
//                       a caller writes one message at a time, so the
//                       transport's flow control stops the caller. After the
//                       call ended, the message is dropped and `done` called.
//   end()               half-close: no more requests (after those written).
//   cancel()            ends the call at once, locally and at the server; the
//                       sink is not called again.
//   consumed(length)    the application took one response message of
//                       `length` bytes: a transport with flow control returns
//                       credit only then, so a reader that stops stops the
//                       server.
//
// The sink:
//   onMessage(bytes)    one response message, in order (server/bidi streaming).
//   onEnd({ error, response, trailers })
//                       exactly once (unless cancel() came first), last, and
//                       never from inside a handle method: `error` an RpcError
//                       or null (OK); `response` the response message bytes of
//                       a client-streaming call; `trailers` the response
//                       metadata, { key: [string | Buffer] }.

// A handle for a call that fails before it starts: `sink.onEnd` gets
// `error` on the next tick; the methods do nothing.
function failedStream(sink, error) {
  let cancelled = false;
  process.nextTick(() => {
    if (!cancelled) sink.onEnd({ error, response: null, trailers: error.metadata || {} });
  });
  return {
    write: (bytes, done) => done(),
    end: () => {},
    cancel: () => {
      cancelled = true;
    },
    consumed: () => {},
  };
}

module.exports = { failedStream };
