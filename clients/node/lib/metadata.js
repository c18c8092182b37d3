'use strict';
// Request metadata as callers give it — { key: value | [values] } with
// string values, or Buffers for keys ending in -bin — checked against
// docs/PROTOCOL.md §4.4 (the gRPC rules) once, for both transports.

const { rpcError } = require('./status');

const KEY_PATTERN = /^[0-9a-z_.-]+$/;
const RESERVED_PREFIXES = Object.freeze(['grpc-', 'dualrpc-']);
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function isBinaryKey(key) {
  return key.endsWith('-bin');
}

// One value as bytes, or throws INVALID_ARGUMENT.
function valueBytes(key, value) {
  if (isBinaryKey(key)) {
    if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    if (typeof value === 'string') return Buffer.from(value, 'utf8');
    throw rpcError('INVALID_ARGUMENT', `metadata "${key}": want a Buffer or a string`);
  }
  if (typeof value !== 'string' || !PRINTABLE_ASCII.test(value)) {
    throw rpcError('INVALID_ARGUMENT',
      `metadata "${key}": want a printable ASCII string; binary values need a key ending in -bin`);
  }
  return Buffer.from(value, 'latin1');
}

// [[key, Buffer]] in the caller's order, or throws INVALID_ARGUMENT.
function normalizeMetadata(metadata) {
  if (metadata === undefined || metadata === null) return [];
  if (typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw rpcError('INVALID_ARGUMENT', 'metadata: want an object { key: value | [values] }');
  }
  const entries = [];
  for (const [key, values] of Object.entries(metadata)) {
    if (!KEY_PATTERN.test(key) || RESERVED_PREFIXES.some((prefix) => key.startsWith(prefix))) {
      throw rpcError('INVALID_ARGUMENT',
        `invalid metadata key ${JSON.stringify(key)}: want [0-9a-z_.-]+, not starting with grpc- or dualrpc-`);
    }
    for (const value of Array.isArray(values) ? values : [values]) {
      entries.push([key, valueBytes(key, value)]);
    }
  }
  return entries;
}

// A call's metadata on a client with channel-wide metadata (connect's
// `metadata` and `token`): the channel's entries, except keys the call sets
// itself, then the call's. Both are normalizeMetadata's output.
function withChannelMetadata(channelEntries, callEntries) {
  if (channelEntries.length === 0) return callEntries;
  const callKeys = new Set(callEntries.map(([key]) => key));
  return [...channelEntries.filter(([key]) => !callKeys.has(key)), ...callEntries];
}

// Connect's `metadata` and `token` options as channel-wide entries; throws
// TypeError. `token` is sent as "authorization: Bearer TOKEN".
function channelMetadata({ metadata, token }) {
  let entries;
  try {
    entries = normalizeMetadata(metadata);
  } catch (error) {
    throw new TypeError(`dualrpc.connect: option metadata: ${error.details}`);
  }
  if (token === undefined) return entries;
  if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) {
    throw new TypeError('dualrpc.connect: option token: want a non-empty printable ASCII string without spaces');
  }
  if (entries.some(([key]) => key === 'authorization')) {
    throw new TypeError('dualrpc.connect: give option token or metadata.authorization, not both');
  }
  return [['authorization', Buffer.from(`Bearer ${token}`, 'latin1')], ...entries];
}

module.exports = { normalizeMetadata, withChannelMetadata, channelMetadata };
