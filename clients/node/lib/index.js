'use strict';
// dualrpc: a client for dualrpc.v1.FileService (and any unary method of the
// contract) over gRPC or over the dualrpc raw protocol, with one API:
//
//   const dualrpc = require('dualrpc');
//   const client = dualrpc.connect('raw://127.0.0.1:50052');  // or grpc://, HOST:PORT,
//                                       // unix:///PATH, raw+unix:///PATH, grpcs://, raws://
//                                       // (lib/target.js)
//   const payload = await client.echo(Buffer.from('hi'), { deadlineMs: 1000 });
//   const { entries, nextPageToken } = await client.listDirectory({ path: 'docs' });
//   client.close();
//
// Failed calls reject with RpcError (.code, .codeName, .details).

const { Client } = require('./client');
const { DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_MESSAGE_BYTES } = require('./frame');
const { GrpcTransport } = require('./grpc_transport');
const { channelMetadata } = require('./metadata');
const { loadContract, PROTO_DIR_ENV } = require('./protos');
const { RawTransport } = require('./raw_transport');
const { Code, RpcError } = require('./status');
const { parseTarget } = require('./target');
const { tlsSettings } = require('./tls');

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

function positiveOption(options, name, fallback) {
  const value = options[name] === undefined ? fallback : options[name];
  if (value !== undefined && !(typeof value === 'number' && value > 0)) {
    throw new TypeError(`dualrpc.connect: option ${name} must be a positive number, not ${String(value)}`);
  }
  return value;
}

// Returns a Client for `target`. Connections open lazily, on the first call.
// Options (all optional):
//   deadlineMs        default deadline of every call (none by default)
//   maxMessageBytes   largest request/response message (4 MiB, as the server)
//   maxHeaderBytes    raw: largest call header (16 KiB, as the server)
//   connectTimeoutMs  raw: longest wait for a connect (5000)
//   protoDir          directory holding dualrpc/v1/*.proto (else $DUALRPC_PROTO_DIR,
//                     else the repository's proto/ next to this package)
//   tls               grpcs:// and raws:// only: { caFile | ca, certFile | cert,
//                     keyFile | key, serverName, insecure } (lib/tls.js)
//   token             sent as "authorization: Bearer TOKEN" with every call
//   metadata          { key: value | [values] } sent with every call; a call's
//                     own metadata replaces the keys it sets
// Throws TypeError for a bad target or option (and a TLS file that cannot be read).
function connect(target, options = {}) {
  const parsed = parseTarget(target);
  const { scheme, host, hostPort, port, path } = parsed;
  const tls = tlsSettings(parsed, options.tls);
  const metadata = channelMetadata(options);
  const limits = {
    maxMessageBytes: positiveOption(options, 'maxMessageBytes', DEFAULT_MAX_MESSAGE_BYTES),
    maxHeaderBytes: positiveOption(options, 'maxHeaderBytes', DEFAULT_MAX_HEADER_BYTES),
  };
  const connectTimeoutMs = positiveOption(options, 'connectTimeoutMs', DEFAULT_CONNECT_TIMEOUT_MS);
  const defaultDeadlineMs = positiveOption(options, 'deadlineMs', undefined);
  const contract = loadContract(options.protoDir);
  const transport = scheme === 'raw'
    ? new RawTransport({
      host,
      port,
      path,
      limits,
      connectTimeoutMs,
      tlsSettings: tls,
      wire: {
        RequestHeader: contract.lookupType('dualrpc.wire.v1.RequestHeader'),
        ResponseHeader: contract.lookupType('dualrpc.wire.v1.ResponseHeader'),
      },
    })
    : new GrpcTransport({ target: hostPort, host, limits, tlsSettings: tls });
  return new Client({
    transport, contract, defaultDeadlineMs, maxMessageBytes: limits.maxMessageBytes, channelMetadata: metadata,
  });
}

module.exports = { connect, RpcError, Code, PROTO_DIR_ENV };
