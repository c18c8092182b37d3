#!/usr/bin/env node
// A third-party gRPC server for dualrpc's tests: @grpc/grpc-js serving
// thirdparty.greet.v1.Greeter (proto/thirdparty/greet/v1/greet.proto), with
// reflection as asked:
//   --reflection=v1    grpc.reflection.v1.ServerReflection only (v1alpha
//                      answers UNIMPLEMENTED, as on servers that dropped it)
//   --reflection=none  no reflection service at all
// Every request header whose name starts with "x-" comes back as a response
// header and as a trailer, so that a test can see which headers arrived.
//
// Binds 127.0.0.1 port 0 and, once serving, writes {"grpc": "127.0.0.1:PORT"}
// to --ready_file=PATH (written to PATH.tmp and renamed, so a reader never
// sees half a file), as dualrpc-server does; dualrpc::server::ServerProcess
// launches it. Stops on SIGTERM or SIGINT.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
// @grpc/reflection's ReflectionService always adds v1 and v1alpha and takes
// no option to choose; its v1 implementation alone is what this server adds.
const {ReflectionV1Implementation} =
    require('@grpc/reflection/build/src/implementations/reflection-v1');

const kProtoDir = path.join(__dirname, 'proto');
const kProtoFile = 'thirdparty/greet/v1/greet.proto';
const kReflectionModes = ['v1', 'none'];

function parseFlags(argv) {
  const flags = {reflection: 'v1', ready_file: ''};
  for (let i = 0; i < argv.length; ++i) {
    const match = /^--?([a-z_]+)(?:=(.*))?$/.exec(argv[i]);
    if (!match || !(match[1] in flags)) {
      throw new Error(`unknown argument ${argv[i]}`);
    }
    let value = match[2];
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${argv[i]}`);
      value = argv[++i];
    }
    flags[match[1]] = value;
  }
  if (!kReflectionModes.includes(flags.reflection)) {
    throw new Error(`--reflection must be one of ${kReflectionModes.join(', ')}`);
  }
  return flags;
}

// The request's x-* headers, as metadata to send back.
function echoedHeaders(metadata) {
  const echoed = new grpc.Metadata();
  for (const key of Object.keys(metadata.getMap())) {
    if (!key.startsWith('x-')) continue;
    for (const value of metadata.get(key)) echoed.add(key, value);
  }
  return echoed;
}

function sayHello(call, callback) {
  call.sendMetadata(echoedHeaders(call.metadata));
  const salutation =
      call.request.salutation === 'SALUTATION_HI' ? 'Hi' : 'Hello';
  callback(null, {message: `${salutation}, ${call.request.name}!`},
           echoedHeaders(call.metadata));
}

function writeReadyFile(readyPath, port) {
  if (!readyPath) return;
  const temporary = `${readyPath}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify({grpc: `127.0.0.1:${port}`}) + '\n');
  fs.renameSync(temporary, readyPath);
}

function main() {
  const flags = parseFlags(process.argv.slice(2));
  const definition = protoLoader.loadSync(kProtoFile, {
    includeDirs: [kProtoDir],
    enums: String,
    defaults: false,
  });
  const proto = grpc.loadPackageDefinition(definition);

  const server = new grpc.Server();
  server.addService(proto.thirdparty.greet.v1.Greeter.service, {sayHello});
  if (flags.reflection === 'v1') {
    new ReflectionV1Implementation(definition).addToServer(server);
  }

  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
                   (error, port) => {
                     if (error) {
                       console.error(`grpc_js_server: bind: ${error.message}`);
                       process.exit(1);
                     }
                     writeReadyFile(flags.ready_file, port);
                   });
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

try {
  main();
} catch (error) {
  console.error(`grpc_js_server: ${error.message}`);
  process.exit(2);
}
