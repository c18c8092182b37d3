#!/usr/bin/env node
'use strict';
// Lists a directory and echoes a message through the same client API over
// each target given — e.g. the server ./scripts/demo starts, or:
//
//   build/bin/dualrpc-server --root . &        # gRPC on :50051, raw on :50052
//   node clients/node/examples/list_and_echo.js grpc://127.0.0.1:50051 raw://127.0.0.1:50052 [PATH]
//
// With no arguments it uses those two default addresses and lists the root.
// TLS targets (grpcs://, raws://) verify the server against
// $DUALRPC_CA_FILE when it is set (else Node's trust store); $DUALRPC_TOKEN,
// when set, goes with every call as "authorization: Bearer ...".

const dualrpc = require('..');

const DEADLINE_MS = 5000;

async function listAll(client, path) {
  const entries = [];
  let pageToken = '';
  do {
    const page = await client.listDirectory({ path, pageToken }, { deadlineMs: DEADLINE_MS });
    entries.push(...page.entries);
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  return entries;
}

function describe(entry) {
  const type = entry.type.replace('TYPE_', '').toLowerCase().padEnd(9);
  const mode = entry.mode.toString(8).padStart(4, '0');
  const target = entry.symlinkTarget ? ` -> ${entry.symlinkTarget}` : '';
  return `  ${type} ${mode} ${entry.sizeBytes.padStart(8)}  ${entry.name}${target}`;
}

function connectOptions(target) {
  const options = { deadlineMs: DEADLINE_MS };
  if (/^(grpcs|raws):/.test(target) && process.env.DUALRPC_CA_FILE) {
    options.tls = { caFile: process.env.DUALRPC_CA_FILE };
  }
  if (process.env.DUALRPC_TOKEN) options.token = process.env.DUALRPC_TOKEN;
  return options;
}

async function demo(target, path) {
  const client = dualrpc.connect(target, connectOptions(target));
  try {
    console.log(`${target}: ListDirectory ${JSON.stringify(path)}`);
    for (const entry of await listAll(client, path)) console.log(describe(entry));

    const echoed = await client.echo(Buffer.from('hello, dualrpc'));
    console.log(`${target}: Echo -> ${JSON.stringify(echoed.toString())}`);

    // Errors carry the gRPC status, the same on both transports.
    try {
      await client.listDirectory({ path: '../..' });
    } catch (error) {
      if (!(error instanceof dualrpc.RpcError)) throw error;
      console.log(`${target}: ListDirectory "../.." -> ${error.codeName} (${error.code}): ${error.details}`);
    }
  } finally {
    client.close();
  }
}

async function main() {
  const args = process.argv.slice(2);
  const targets = args.filter((arg) => /^(raw|grpc)s?:\/\//.test(arg));
  const paths = args.filter((arg) => !targets.includes(arg));
  if (paths.length > 1) {
    console.error('usage: list_and_echo.js [grpc[s]://HOST:PORT] [raw[s]://HOST:PORT] [PATH]');
    return 2;
  }
  if (targets.length === 0) targets.push('grpc://127.0.0.1:50051', 'raw://127.0.0.1:50052');
  for (const target of targets) await demo(target, paths[0] || '');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error instanceof dualrpc.RpcError ? `error: ${error.message}` : error);
    process.exitCode = 1;
  });
