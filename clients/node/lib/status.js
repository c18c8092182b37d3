'use strict';
// gRPC status codes (docs/PROTOCOL.md §6.1) and the one error type every
// call of this package rejects with, whatever the transport.

const CODE_NAMES = Object.freeze([
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
]);

// { OK: 0, CANCELLED: 1, ... }
const Code = Object.freeze(Object.fromEntries(CODE_NAMES.map((name, code) => [name, code])));

// Numbers outside 0..16 are UNKNOWN (§6.1).
function normalizeCode(code) {
  return Number.isInteger(code) && code >= 0 && code < CODE_NAMES.length ? code : Code.UNKNOWN;
}

// A failed call. `code` is the gRPC number, `codeName` its name, `details`
// the server's (or this client's) status message, `metadata` the response
// metadata (trailers) when the server sent any: { key: [string | Buffer] }.
class RpcError extends Error {
  constructor(code, details = '', metadata = {}) {
    const normalized = normalizeCode(code);
    const name = CODE_NAMES[normalized];
    super(details ? `${name}: ${details}` : name);
    this.name = 'RpcError';
    this.code = normalized;
    this.codeName = name;
    this.details = details;
    this.metadata = metadata;
  }
}

// Shorthands: rpcError('NOT_FOUND', 'no such file').
function rpcError(codeName, details, metadata) {
  return new RpcError(Code[codeName], details, metadata);
}

module.exports = { Code, CODE_NAMES, RpcError, rpcError, normalizeCode };
