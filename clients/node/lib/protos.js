'use strict';
// Loads the contract (.proto files) at runtime with protobufjs: nothing is
// generated or committed. The files are read from the repository's proto/
// directory, found relative to this package (clients/node/lib → ../../../proto);
// DUALRPC_PROTO_DIR, or connect()'s `protoDir` option, points elsewhere.

const fs = require('node:fs');
const path = require('node:path');
const protobuf = require('protobufjs');

const PROTO_DIR_ENV = 'DUALRPC_PROTO_DIR';
const DEFAULT_PROTO_DIR = path.resolve(__dirname, '..', '..', '..', 'proto');

// The files every client needs: the service contract and the framed
// protocol's headers (their imports, e.g. google/protobuf/timestamp.proto,
// come bundled with protobufjs).
const CONTRACT_FILES = Object.freeze([
  'dualrpc/v1/file_service.proto',
  'dualrpc/wire/v1/wire.proto',
]);

function protoDir(override) {
  return override || process.env[PROTO_DIR_ENV] || DEFAULT_PROTO_DIR;
}

// One protobufjs Root per proto directory, loaded on first use and shared
// (a Root is immutable once resolved).
const roots = new Map();

function loadContract(override) {
  const dir = protoDir(override);
  let root = roots.get(dir);
  if (root !== undefined) return root;
  const missing = CONTRACT_FILES.filter((file) => !fs.existsSync(path.join(dir, file)));
  if (missing.length > 0) {
    throw new Error(
      `dualrpc: cannot find ${missing.join(', ')} under ${dir}; ` +
        `set ${PROTO_DIR_ENV} (or the protoDir option) to the directory holding dualrpc/v1/*.proto`);
  }
  root = new protobuf.Root();
  // Imports are relative to the proto directory, as with protoc -I.
  root.resolvePath = (origin, target) => (path.isAbsolute(target) ? target : path.join(dir, target));
  root.loadSync(CONTRACT_FILES.slice(), { keepCase: false });
  root.resolveAll();
  roots.set(dir, root);
  return root;
}

module.exports = { loadContract, PROTO_DIR_ENV, DEFAULT_PROTO_DIR };
