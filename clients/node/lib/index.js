'use strict';
// dualrpc: a client for dualrpc.v1.FileService (and any unary method of the
// contract) over gRPC or over the dualrpc raw protocol, with one API:
//
//   const dualrpc = require('dualrpc');
//   const client = dualrpc.connect('raw://127.0.0.1:50052');  // or grpc://, HOST:PORT,
//                                       // unix:///PATH, raw+unix:///PATH, grpcs://, raws://,
//                                       // lists H1:P1,H2:P2, dns:///, raw+dns:/// (lib/target.js)
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
const {
  BalancedRawTransport, DEFAULT_BACKOFF, DEFAULT_DNS_REFRESH_MS, DEFAULT_HEALTH_CHECK_INTERVAL_MS,
  DEFAULT_HEALTH_CHECK_TIMEOUT_MS,
} = require('./raw_balancer');
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

// A number option in [min, max) (or [min, max] with `maxIncluded`).
function rangeOption(options, name, fallback, min, max, maxIncluded = false) {
  const value = options[name] === undefined ? fallback : options[name];
  if (!(typeof value === 'number' && value >= min && (value < max || (maxIncluded && value === max)))) {
    const range = `[${min}, ${max}${maxIncluded ? ']' : ')'}`;
    throw new TypeError(`dualrpc.connect: option ${name} must be a number in ${range}, not ${String(value)}`);
  }
  return value;
}

// The balancing options of a raw target with several addresses or a DNS
// name (raw_balancer.js, issue 13's D2).
function balancingOptions(options) {
  return {
    healthCheck: {
      intervalMs: positiveOption(options, 'healthCheckIntervalMs', DEFAULT_HEALTH_CHECK_INTERVAL_MS),
      timeoutMs: positiveOption(options, 'healthCheckTimeoutMs', DEFAULT_HEALTH_CHECK_TIMEOUT_MS),
    },
    backoff: {
      initialMs: positiveOption(options, 'backoffInitialMs', DEFAULT_BACKOFF.initialMs),
      multiplier: rangeOption(options, 'backoffMultiplier', DEFAULT_BACKOFF.multiplier, 1, Infinity, true),
      jitter: rangeOption(options, 'backoffJitter', DEFAULT_BACKOFF.jitter, 0, 1),
      maxMs: positiveOption(options, 'backoffMaxMs', DEFAULT_BACKOFF.maxMs),
    },
    dnsRefreshMs: positiveOption(options, 'dnsRefreshMs', DEFAULT_DNS_REFRESH_MS),
  };
}

function rawTransport(parsed, { limits, connectTimeoutMs, tls, contract, balancing }) {
  const common = {
    limits,
    connectTimeoutMs,
    tlsSettings: tls,
    wire: {
      RequestHeader: contract.lookupType('dualrpc.wire.v1.RequestHeader'),
      ResponseHeader: contract.lookupType('dualrpc.wire.v1.ResponseHeader'),
    },
  };
  if (parsed.dnsName === null && parsed.addresses.length <= 1) {
    // One address (or a unix socket): one backend, as before issue 13.
    return new RawTransport({ host: parsed.host, port: parsed.port, path: parsed.path, ...common });
  }
  if (parsed.dnsName !== null) {
    return new BalancedRawTransport({
      dnsName: parsed.dnsName, port: parsed.port, tlsName: parsed.host, ...common, ...balancing,
    });
  }
  return new BalancedRawTransport({ addresses: parsed.addresses, tlsName: parsed.host, ...common, ...balancing });
}

// Returns a Client for `target`. Connections open lazily, on the first call.
// Options (all optional):
//   deadlineMs        default deadline of every call (none by default)
//   maxMessageBytes   largest request/response message (4 MiB, as the server)
//   maxHeaderBytes    raw: largest call header (16 KiB, as the server)
//   connectTimeoutMs  raw: longest wait for a connect (5000); on a balanced
//                     target until the server's preface
//   healthCheckIntervalMs, healthCheckTimeoutMs
//                     balanced raw targets (raw://H1:P1,H2:P2, raw+dns:///):
//                     a PING after this long without a frame received (5000;
//                     Infinity: none), and the longest wait for its answer
//                     (2000) before the backend is ejected
//   backoffInitialMs, backoffMultiplier, backoffJitter, backoffMaxMs
//                     balanced raw targets: an ejected backend's reconnect
//                     delays (1000, 1.6, 0.2 i.e. ±20 %, 120000: gRPC's)
//   dnsRefreshMs      raw+dns:/// targets: how often NAME is resolved again (30000)
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
  const { scheme, host, hostPort, port } = parsed;
  const tls = tlsSettings(parsed, options.tls);
  const metadata = channelMetadata(options);
  const limits = {
    maxMessageBytes: positiveOption(options, 'maxMessageBytes', DEFAULT_MAX_MESSAGE_BYTES),
    maxHeaderBytes: positiveOption(options, 'maxHeaderBytes', DEFAULT_MAX_HEADER_BYTES),
  };
  const connectTimeoutMs = positiveOption(options, 'connectTimeoutMs', DEFAULT_CONNECT_TIMEOUT_MS);
  const defaultDeadlineMs = positiveOption(options, 'deadlineMs', undefined);
  // Checked whatever the target, as every option is.
  const balancing = balancingOptions(options);
  const contract = loadContract(options.protoDir);
  const transport = scheme === 'raw'
    ? rawTransport(parsed, { limits, connectTimeoutMs, tls, contract, balancing })
    : new GrpcTransport({
      target: hostPort,
      host,
      port,
      limits,
      tlsSettings: tls,
      balanced: parsed.dnsName !== null || parsed.addresses.length > 1,
    });
  return new Client({
    transport, contract, defaultDeadlineMs, maxMessageBytes: limits.maxMessageBytes, channelMetadata: metadata,
  });
}

module.exports = { connect, RpcError, Code, PROTO_DIR_ENV };
