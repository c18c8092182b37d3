'use strict';
// npm's prepack/postpack: `node scripts/bundle_protos.js copy` puts the
// contract's .proto files (lib/contract_files.js) from the repository's
// proto/ into this package's proto/, which package.json's "files" ships, so
// the packed package loads them without DUALRPC_PROTO_DIR;
// `node scripts/bundle_protos.js remove` deletes that copy again, so that the
// checkout keeps reading the repository's files.

const fs = require('node:fs');
const path = require('node:path');

const PACKAGE_DIR = path.resolve(__dirname, '..');
const BUNDLE_DIR = path.join(PACKAGE_DIR, 'proto');
const SOURCE_DIR = process.env.DUALRPC_PROTO_DIR || path.resolve(PACKAGE_DIR, '..', '..', 'proto');
const CONTRACT_FILES = require('../lib/contract_files');

function copy() {
  fs.rmSync(BUNDLE_DIR, { recursive: true, force: true });
  for (const file of CONTRACT_FILES) {
    const source = path.join(SOURCE_DIR, file);
    if (!fs.existsSync(source)) {
      throw new Error(`bundle_protos: ${source} not found (set DUALRPC_PROTO_DIR)`);
    }
    fs.mkdirSync(path.dirname(path.join(BUNDLE_DIR, file)), { recursive: true });
    fs.copyFileSync(source, path.join(BUNDLE_DIR, file));
  }
}

const actions = { copy, remove: () => fs.rmSync(BUNDLE_DIR, { recursive: true, force: true }) };
const action = actions[process.argv[2]];
if (action === undefined) {
  console.error('usage: node scripts/bundle_protos.js copy|remove');
  process.exit(2);
}
action();
