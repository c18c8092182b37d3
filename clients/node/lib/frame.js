'use strict';
// The raw protocol's constants and encoders (docs/PROTOCOL.md §2–§5, §7).
// Pure functions over Buffers: no sockets, no protobuf types.

const PREFACE_BYTES = 8;
const MAGIC = Buffer.from('DRPC', 'ascii');
const MAJOR_VERSION = 1;
// This client speaks 1.1 (§7: streaming calls); a 1.0 server still serves
// its unary calls unchanged (§7.1).
const MINOR_VERSION = 1;
// The first minor version with MESSAGE and WINDOW_UPDATE (§7.1).
const STREAMING_MINOR_VERSION = 1;
const PREFACE = Buffer.from([...MAGIC, MAJOR_VERSION, MINOR_VERSION, 0, 0]);

const FRAME_HEADER_BYTES = 12;
const PING_PAYLOAD_BYTES = 8;
const GOAWAY_LAST_CALL_ID_BYTES = 4;
const CALL_HEADER_LENGTH_BYTES = 4;

const FrameType = Object.freeze({
  REQUEST: 0x01,
  RESPONSE: 0x02,
  CANCEL: 0x03,
  PING: 0x04,
  GOAWAY: 0x05,
  MESSAGE: 0x06,
  WINDOW_UPDATE: 0x07,
});
const FRAME_TYPE_NAMES = Object.freeze(
  Object.fromEntries(Object.entries(FrameType).map(([name, type]) => [type, name])));

const Flag = Object.freeze({
  END_STREAM: 0x01,
  COMPRESSED: 0x02,
  ACK: 0x80,
});

// Call ids are 32-bit, non-zero, strictly increasing per connection (§3.3).
const MAX_CALL_ID = 0xffffffff;

// §4.3 defaults. The frame limit follows from the other two.
const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
function maxFramePayloadBytes(limits) {
  return limits.maxMessageBytes + limits.maxHeaderBytes + CALL_HEADER_LENGTH_BYTES;
}

// Flow control (§7.4): each call's window per direction when it opens, the
// largest a window may grow to, and a MESSAGE's cost: its whole frame.
const INITIAL_STREAM_WINDOW = 65536;
const MAX_STREAM_WINDOW = 0x7fffffff;
const WINDOW_UPDATE_PAYLOAD_BYTES = 4;
function streamMessageCost(payloadLength) {
  return FRAME_HEADER_BYTES + payloadLength;
}

// Timeouts above 10 years mean "no deadline" (§4.1).
const MAX_TIMEOUT_MICROS = 315360000000000;

function frameTypeName(type) {
  return FRAME_TYPE_NAMES[type] || `frame type 0x${type.toString(16).padStart(2, '0')}`;
}

// One frame: 12-byte header then the concatenated payload parts.
function encodeFrame(type, flags, callId, payloadParts = []) {
  const payloadLength = payloadParts.reduce((sum, part) => sum + part.length, 0);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadLength);
  frame.writeUInt32BE(payloadLength, 0);
  frame.writeUInt8(type, 4);
  frame.writeUInt8(flags, 5);
  frame.writeUInt16BE(0, 6);
  frame.writeUInt32BE(callId, 8);
  let offset = FRAME_HEADER_BYTES;
  for (const part of payloadParts) {
    frame.set(part, offset);
    offset += part.length;
  }
  return frame;
}

// REQUEST/RESPONSE payload parts: u32 header length, header, message (§4.1).
function callPayloadParts(header, message) {
  const length = Buffer.allocUnsafe(CALL_HEADER_LENGTH_BYTES);
  length.writeUInt32BE(header.length, 0);
  return [length, header, message];
}

// Inverse of callPayloadParts; null when the header length does not fit.
function splitCallPayload(payload) {
  if (payload.length < CALL_HEADER_LENGTH_BYTES) return null;
  const headerLength = payload.readUInt32BE(0);
  if (headerLength > payload.length - CALL_HEADER_LENGTH_BYTES) return null;
  const headerEnd = CALL_HEADER_LENGTH_BYTES + headerLength;
  return {
    header: payload.subarray(CALL_HEADER_LENGTH_BYTES, headerEnd),
    message: payload.subarray(headerEnd),
  };
}

// GOAWAY payload: u32 last call id, then a ResponseHeader (§5.5).
function goawayPayloadParts(lastCallId, responseHeader) {
  const id = Buffer.allocUnsafe(GOAWAY_LAST_CALL_ID_BYTES);
  id.writeUInt32BE(lastCallId, 0);
  return [id, responseHeader];
}

function splitGoawayPayload(payload) {
  if (payload.length < GOAWAY_LAST_CALL_ID_BYTES) return null;
  return {
    lastCallId: payload.readUInt32BE(0),
    header: payload.subarray(GOAWAY_LAST_CALL_ID_BYTES),
  };
}

// WINDOW_UPDATE payload: one u32 increment (§7.4).
function windowUpdatePayloadParts(increment) {
  const bytes = Buffer.allocUnsafe(WINDOW_UPDATE_PAYLOAD_BYTES);
  bytes.writeUInt32BE(increment, 0);
  return [bytes];
}

// The increment of a WINDOW_UPDATE payload, or null when it breaks §7.4
// (not 4 bytes, zero, or the high bit set).
function parseWindowUpdate(payload) {
  if (payload.length !== WINDOW_UPDATE_PAYLOAD_BYTES) return null;
  const increment = payload.readUInt32BE(0);
  return increment === 0 || increment > MAX_STREAM_WINDOW ? null : increment;
}

module.exports = {
  PREFACE,
  PREFACE_BYTES,
  MAGIC,
  MAJOR_VERSION,
  MINOR_VERSION,
  STREAMING_MINOR_VERSION,
  FRAME_HEADER_BYTES,
  PING_PAYLOAD_BYTES,
  FrameType,
  Flag,
  MAX_CALL_ID,
  MAX_TIMEOUT_MICROS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_HEADER_BYTES,
  INITIAL_STREAM_WINDOW,
  MAX_STREAM_WINDOW,
  streamMessageCost,
  maxFramePayloadBytes,
  frameTypeName,
  encodeFrame,
  callPayloadParts,
  splitCallPayload,
  goawayPayloadParts,
  splitGoawayPayload,
  windowUpdatePayloadParts,
  parseWindowUpdate,
};
