'use strict';
// The .proto files every client needs, relative to a proto directory: the
// service contract and the raw protocol's headers (their imports, e.g.
// google/protobuf/timestamp.proto, come bundled with protobufjs). No
// dependencies, so that scripts/bundle_protos.js can read it before
// node_modules exists.
module.exports = Object.freeze([
  'dualrpc/v1/file_service.proto',
  'dualrpc/wire/v1/wire.proto',
]);
