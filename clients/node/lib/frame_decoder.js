'use strict';
// Incremental decoder for the bytes a peer sends: its preface, then frames
// (docs/PROTOCOL.md §2, §3). Bytes arrive in arbitrary chunks — a frame may
// be split across many chunks and one chunk may hold many frames — so the
// decoder keeps the chunks it has not consumed and turns them into events.
//
// Memory: received chunks are kept as they are (no copy) until a whole
// frame is there; a frame's payload is copied once, into a buffer of exactly
// its size, only after all its bytes have arrived. A frame whose declared
// length exceeds `maxPayloadBytes` is reported as soon as its 12-byte
// header is in, and its payload is then skipped as it arrives without
// being buffered, so a peer's declared length never sizes an allocation.
//
// Policy (which frames are legal, what an oversized frame means) belongs to
// the caller.

const {
  FRAME_HEADER_BYTES,
  MAGIC,
  PREFACE_BYTES,
} = require('./frame');

const EMPTY = Buffer.alloc(0);

const State = Object.freeze({
  PREFACE: 'preface',
  FRAME_HEADER: 'frame header',
  PAYLOAD: 'payload',
  DISCARD: 'discard',
  FAILED: 'failed',
});

class FrameDecoder {
  // `maxPayloadBytes`: the largest payload buffered; larger frames become
  // 'oversized' events and are skipped.
  constructor({ maxPayloadBytes }) {
    this.maxPayloadBytes_ = maxPayloadBytes;
    this.state_ = State.PREFACE;
    this.chunks_ = [];
    this.buffered_ = 0;
    this.header_ = null;  // The frame whose payload is awaited or skipped.
    this.remaining_ = 0;  // DISCARD: payload bytes still to skip.
  }

  // Bytes received but not yet part of an event.
  get bufferedBytes() {
    return this.buffered_;
  }

  // Consumes `chunk`; returns the events it completes, in order:
  //   { kind: 'preface', major, minor }
  //   { kind: 'frame', type, flags, callId, payload }
  //   { kind: 'oversized', type, flags, callId, length }  (payload skipped)
  //   { kind: 'error', message }  (wrong magic; the decoder stops)
  push(chunk) {
    const events = [];
    if (this.state_ === State.FAILED) return events;
    if (chunk.length > 0) {
      this.chunks_.push(chunk);
      this.buffered_ += chunk.length;
    }
    for (;;) {
      const event = this.next_();
      if (event === null) return events;
      events.push(event);
      if (event.kind === 'error') return events;
    }
  }

  // One event, or null when more bytes are needed.
  next_() {
    switch (this.state_) {
      case State.PREFACE:
        return this.preface_();
      case State.FRAME_HEADER:
        return this.frameHeader_();
      case State.PAYLOAD:
        return this.payload_();
      case State.DISCARD:
        return this.discard_();
      default:
        return null;
    }
  }

  preface_() {
    if (this.buffered_ < PREFACE_BYTES) return null;
    const preface = this.take_(PREFACE_BYTES);
    if (!preface.subarray(0, MAGIC.length).equals(MAGIC)) {
      this.fail_();
      return { kind: 'error', message: 'peer does not speak the dualrpc framed protocol (wrong magic)' };
    }
    this.state_ = State.FRAME_HEADER;
    return { kind: 'preface', major: preface[4], minor: preface[5] };
  }

  frameHeader_() {
    if (this.buffered_ < FRAME_HEADER_BYTES) return null;
    const bytes = this.take_(FRAME_HEADER_BYTES);
    const header = {
      length: bytes.readUInt32BE(0),
      type: bytes[4],
      flags: bytes[5],
      callId: bytes.readUInt32BE(8),
    };
    if (header.length > this.maxPayloadBytes_) {
      this.state_ = State.DISCARD;
      this.remaining_ = header.length;
      return { kind: 'oversized', type: header.type, flags: header.flags, callId: header.callId, length: header.length };
    }
    this.header_ = header;
    this.state_ = State.PAYLOAD;
    return this.payload_();
  }

  payload_() {
    const header = this.header_;
    if (this.buffered_ < header.length) return null;
    const payload = this.take_(header.length);
    this.header_ = null;
    this.state_ = State.FRAME_HEADER;
    return { kind: 'frame', type: header.type, flags: header.flags, callId: header.callId, payload };
  }

  discard_() {
    while (this.remaining_ > 0 && this.chunks_.length > 0) {
      const first = this.chunks_[0];
      const skipped = Math.min(first.length, this.remaining_);
      this.consumeFirst_(skipped);
      this.remaining_ -= skipped;
    }
    if (this.remaining_ > 0) return null;
    this.state_ = State.FRAME_HEADER;
    return this.next_();
  }

  // Removes `n` <= bufferedBytes bytes from the front and returns them; zero
  // copy when they lie in one chunk.
  take_(n) {
    if (n === 0) return EMPTY;
    const first = this.chunks_[0];
    if (first.length >= n) {
      const out = first.subarray(0, n);
      this.consumeFirst_(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks_[0];
      const copied = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, copied);
      filled += copied;
      this.consumeFirst_(copied);
    }
    return out;
  }

  // Drops `n` <= chunks_[0].length bytes from the first chunk.
  consumeFirst_(n) {
    const first = this.chunks_[0];
    if (n === first.length) {
      this.chunks_.shift();
    } else {
      this.chunks_[0] = first.subarray(n);
    }
    this.buffered_ -= n;
  }

  fail_() {
    this.state_ = State.FAILED;
    this.chunks_ = [];
    this.buffered_ = 0;
  }
}

module.exports = { FrameDecoder };
