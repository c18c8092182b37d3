#!/usr/bin/env node
// A third-party gRPC client over TLS for dualrpc's tests: @grpc/grpc-js with
// credentials.createSsl.
//
// Usage: grpc_js_tls_client.js HOST:PORT CA_FILE [CERT_FILE KEY_FILE]
//
// Calls dualrpc.v1.FileService/Echo with payload "over tls" (the protobuf
// encoded by hand: field 1, bytes, so no .proto is loaded) and prints the
// echoed payload (exit 0), or "ERROR <status code name>" (exit 1).
'use strict';

const fs = require('fs');
const grpc = require('@grpc/grpc-js');

const kPayload = Buffer.from('over tls');

function encodePayload(payload) {
  return Buffer.concat([Buffer.from([0x0a, payload.length]), payload]);
}

function decodePayload(message) {
  if (message.length === 0) return Buffer.alloc(0);
  return message.subarray(2, 2 + message[1]);
}

function main(argv) {
  const [target, caFile, certFile, keyFile] = argv;
  const credentials = grpc.credentials.createSsl(
      fs.readFileSync(caFile), keyFile ? fs.readFileSync(keyFile) : null,
      certFile ? fs.readFileSync(certFile) : null);
  const client = new grpc.Client(target, credentials);
  const deadline = new Date(Date.now() + 10000);
  client.makeUnaryRequest(
      '/dualrpc.v1.FileService/Echo', (buffer) => buffer, (buffer) => buffer,
      encodePayload(kPayload), new grpc.Metadata(), {deadline},
      (error, response) => {
        client.close();
        if (error) {
          const name = Object.keys(grpc.status).find(
              (key) => grpc.status[key] === error.code);
          console.log(`ERROR ${name}`);
          console.error(error.details);
          process.exitCode = 1;
          return;
        }
        console.log(decodePayload(response).toString());
      });
}

main(process.argv.slice(2));
