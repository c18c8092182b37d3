'use strict';
// Loads the contract (.proto files) at runtime with protobufjs: nothing is
// generated or committed. Where the files are, first match wins:
//   1. connect()'s `protoDir` option, then $DUALRPC_PROTO_DIR;
//   2. the package's own proto/ (BUNDLED_PROTO_DIR): `npm pack` copies the
//      contract there (scripts/bundle_protos.js), so an installed package
//      needs nothing else;
//   3. the repository's proto/ (clients/node/lib → ../../../proto), for the
//      checkout, where proto/ is not bundled.

const fs = require('node:fs');
const path = require('node:path');
const protobuf = require('protobufjs');
const CONTRACT_FILES = require('./contract_files');

const PROTO_DIR_ENV = 'DUALRPC_PROTO_DIR';
const BUNDLED_PROTO_DIR = path.resolve(__dirname, '..', 'proto');
const REPOSITORY_PROTO_DIR = path.resolve(__dirname, '..', '..', '..', 'proto');

function holdsContract(dir) {
  return CONTRACT_FILES.every((file) => fs.existsSync(path.join(dir, file)));
}

// The bundled copy is never mixed with the repository's: a package holds
// either the whole contract or none of it.
const DEFAULT_PROTO_DIR = holdsContract(BUNDLED_PROTO_DIR) ? BUNDLED_PROTO_DIR : REPOSITORY_PROTO_DIR;

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

module.exports = { loadContract, CONTRACT_FILES, PROTO_DIR_ENV, DEFAULT_PROTO_DIR };
