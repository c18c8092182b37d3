'use strict';
// One streaming call as the application sees it, the same on both
// transports: a Node Duplex in object mode.
//
//   readable side  the response objects, in order (`for await`, 'data',
//                  pipe). The call's failure is the stream's error, raised
//                  after the responses that arrived before it (so the
//                  iterator throws an RpcError once it has yielded them).
//   writable side  the request objects (`write`, `end`); a write waits for
//                  the transport's flow control, so write() returning false
//                  and 'drain' are real backpressure.
//   cancel()       ends the call at once with CANCELLED (the server is told).
//   trailers       a Promise of the response metadata, resolved when the
//                  call ends, whatever its status ({} when cancelled here).
//   response       client streaming: a Promise of the one response.
//
// A response message is decoded when the readable side asks for more
// (readableHighWaterMark 0: at most one message ahead of the reader), and
// its flow-control credit returned (the transport's consumed()) only once
// the reader took its last object (Readable emits 'data' for every object
// it hands out, whether read(), async iteration, 'data' or pipe), so a
// reader that stops stops the server.
//
// Owns its transport handle (stream_handle.js) and is its sink; touched
// only on Node's event loop.

const { Duplex } = require('node:stream');

const { MethodKind, hasRequestStream, hasResponseStream } = require('./method_kind');
const { RpcError, rpcError } = require('./status');

class ClientCall extends Duplex {
  // `encode(request) -> Buffer` and `decode(bytes) -> [items]` throw
  // RpcError; `kind` is the method's.
  constructor({ kind, encode, decode }) {
    super({ objectMode: true, readableHighWaterMark: 0, allowHalfOpen: true });
    this.kind = kind;
    this.encode_ = encode;
    this.decode_ = decode;
    this.handle_ = null;
    this.received_ = [];  // Response messages (bytes) the reader has not taken.
    // Messages pushed into the readable side: { left: objects not yet read, length }.
    this.delivering_ = [];
    this.outcome_ = null;  // { error, response, trailers } once the transport ended the call.
    this.finished_ = false;
    this.wantsRead_ = false;
    this.pumping_ = false;
    this.responseDecoded_ = undefined;
    this.responsePromise_ = null;
    this.trailers = new Promise((resolve) => {
      this.resolveTrailers_ = resolve;
    });
    // Failures reach the application through the iterator, `response` and
    // 'error' listeners of its own; a call nobody reads must not crash the
    // process with an unhandled 'error'.
    this.on('error', () => {});
    // A server-streaming call's one request went in its REQUEST.
    if (!hasRequestStream(kind)) super.end();
  }

  // Client streaming: the response object; rejects with the call's RpcError.
  get response() {
    if (this.responsePromise_ === null) {
      this.responsePromise_ = new Promise((resolve, reject) => {
        this.settleResponse_ = (error, response) => (error ? reject(error) : resolve(response));
      });
      if (this.finished_) this.settleResponse_(this.finalError_, this.responseDecoded_);
    }
    return this.responsePromise_;
  }

  // Binds the transport's handle; called once, right after construction.
  attach(handle) {
    this.handle_ = handle;
  }

  cancel() {
    if (this.finished_) return;
    if (this.handle_ !== null) this.handle_.cancel();
    this.finish_(rpcError('CANCELLED', 'cancelled by the client'), {});
  }

  // --- the transport's sink ---

  onMessage(bytes) {
    if (this.finished_) return;
    this.received_.push(bytes);
    this.pump_();
  }

  onEnd(outcome) {
    if (this.finished_ || this.outcome_ !== null) return;
    this.outcome_ = outcome;
    this.pump_();
  }

  // --- Duplex ---

  _write(request, encoding, callback) {
    if (this.finished_) {
      callback();
      return;
    }
    let bytes;
    try {
      bytes = this.encode_(request);
    } catch (error) {
      this.fail_(error);
      callback();
      return;
    }
    this.handle_.write(bytes, () => callback());
  }

  _final(callback) {
    if (!this.finished_ && hasRequestStream(this.kind)) this.handle_.end();
    callback();
  }

  _read() {
    this.wantsRead_ = true;
    this.pump_();
  }

  _destroy(error, callback) {
    // destroy() by the application is a cancel.
    if (!this.finished_) {
      if (this.handle_ !== null) this.handle_.cancel();
      this.finish_(error instanceof RpcError ? error : rpcError('CANCELLED', 'the call was destroyed'), {}, false);
    }
    callback(error);
  }

  // Every object the reader takes passes here as 'data'.
  emit(event, ...args) {
    if (event === 'data' && this.delivering_.length > 0) {
      const message = this.delivering_[0];
      if (--message.left === 0) {
        this.delivering_.shift();
        if (!this.finished_) this.handle_.consumed(message.length);
      }
    }
    return super.emit(event, ...args);
  }

  // --- internals ---

  // Hands received messages to a waiting reader, then the call's end once
  // every message before it was read.
  pump_() {
    if (this.pumping_) return;
    this.pumping_ = true;
    try {
      while (this.wantsRead_ && !this.finished_ && this.received_.length > 0) {
        const bytes = this.received_.shift();
        let items;
        try {
          items = this.decode_(bytes);
        } catch (error) {
          this.fail_(error);
          return;
        }
        if (items.length === 0) {
          this.handle_.consumed(bytes.length);
          continue;
        }
        this.delivering_.push({ left: items.length, length: bytes.length });
        for (const item of items) this.wantsRead_ = this.push(item);
      }
      if (this.received_.length === 0 && this.outcome_ !== null && !this.finished_) {
        const { error, response, trailers } = this.outcome_;
        if (error === null && this.kind === MethodKind.CLIENT_STREAMING) {
          try {
            this.responseDecoded_ = this.decode_(response)[0];
          } catch (decodeError) {
            this.finish_(decodeError, trailers);
            return;
          }
        }
        this.finish_(error, trailers);
      }
    } finally {
      this.pumping_ = false;
    }
  }

  // A failure found on this side (a request that does not encode, a
  // response that does not parse, a failing request iterable): the call
  // ends with `error` and the server is told.
  fail_(error) {
    if (this.finished_) return;
    this.handle_.cancel();
    this.finish_(error, {});
  }

  // The one end of the call. `destroy`: false when called from _destroy.
  finish_(error, trailers, destroy = true) {
    if (this.finished_) return;
    this.finished_ = true;
    this.received_ = [];
    this.delivering_ = [];
    this.finalError_ = error;
    this.resolveTrailers_(trailers || {});
    if (this.responsePromise_ !== null) this.settleResponse_(error, this.responseDecoded_);
    if (error !== null) {
      if (destroy) this.destroy(error);
    } else {
      this.push(null);
    }
  }
}

// Writes every request of `requests` (an iterable or async iterable) into
// `call`, waiting for 'drain' when write() says so, then half-closes. A
// failing iterable cancels the call with its error (as an RpcError).
async function feedRequests(call, requests) {
  try {
    for await (const request of requests) {
      if (call.destroyed || call.writableEnded) return;
      if (!call.write(request)) {
        await new Promise((resolve) => {
          const done = () => {
            call.off('drain', done);
            call.off('close', done);
            resolve();
          };
          call.on('drain', done);
          call.on('close', done);
        });
      }
    }
    if (!call.destroyed && !call.writableEnded) call.end();
  } catch (error) {
    if (call.destroyed) return;
    call.fail_(error instanceof RpcError ? error : rpcError('CANCELLED', `the request iterable failed: ${error.message}`));
  }
}

module.exports = { ClientCall, feedRequests };
