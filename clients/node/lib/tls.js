'use strict';
// TLS for grpcs:// and raws:// targets: connect's `tls` option checked and
// read once (tlsSettings), the node:tls options of a raw connection
// (rawTlsConnectOptions), and the one table that turns a failed handshake
// into words a user can act on (describeTlsFailure), for both transports:
// raw sees node:tls's Error (its `code`), gRPC only grpc-js's status
// details, which carry the same Error's message.

const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');

// The raw protocol's ALPN id (docs/PROTOCOL.md); gRPC's is h2 (grpc-js).
const RAW_ALPN_PROTOCOL = 'dualrpc/1';
// The oldest TLS version either transport accepts (the server's default is 1.3).
const MIN_TLS_VERSION = 'TLSv1.2';

const TLS_OPTION_NAMES = Object.freeze(['caFile', 'ca', 'certFile', 'cert', 'keyFile', 'key', 'serverName',
  'insecure']);

function badOption(name, why) {
  return new TypeError(`dualrpc.connect: option tls.${name}: ${why}`);
}

// PEM bytes from `tls[contentName]` (a string or Buffer) or the file
// `tls[fileName]`; null when neither is given.
function pem(options, fileName, contentName) {
  const file = options[fileName];
  const content = options[contentName];
  if (file !== undefined && content !== undefined) {
    throw badOption(fileName, `give ${fileName} or ${contentName}, not both`);
  }
  if (content !== undefined) {
    if (typeof content !== 'string' && !(content instanceof Uint8Array)) {
      throw badOption(contentName, 'want PEM text, a string or a Buffer');
    }
    return Buffer.from(content);
  }
  if (file === undefined) return null;
  if (typeof file !== 'string' || file === '') throw badOption(fileName, 'want a file path');
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw badOption(fileName, `cannot read ${JSON.stringify(file)}: ${error.message}`);
  }
}

// The `tls` option of connect() for a target, checked, its files read:
// null for a plaintext target without it, else
//   { ca, cert, key, serverName, insecure }
// with ca/cert/key Buffers or null (ca null: Node's trust store) and
// serverName a string or null (null: the target's host). Throws TypeError
// for a `tls` option on a plaintext target (a user who names a CA expects
// TLS, not a silent plaintext connection), an unknown field, a certificate
// without its key or the other way round, or a file that cannot be read.
function tlsSettings(target, options) {
  if (options === undefined || options === null) return target.tls ? tlsSettings(target, {}) : null;
  if (!target.tls) {
    throw new TypeError('dualrpc.connect: option tls needs a grpcs:// or raws:// target');
  }
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError('dualrpc.connect: option tls: want an object { caFile, certFile, keyFile, serverName, insecure }');
  }
  const unknown = Object.keys(options).filter((name) => !TLS_OPTION_NAMES.includes(name));
  if (unknown.length > 0) {
    throw new TypeError(`dualrpc.connect: option tls has no field ${unknown.join(', ')} `
      + `(fields: ${TLS_OPTION_NAMES.join(', ')})`);
  }
  const settings = {
    ca: pem(options, 'caFile', 'ca'),
    cert: pem(options, 'certFile', 'cert'),
    key: pem(options, 'keyFile', 'key'),
    serverName: null,
    insecure: false,
  };
  if ((settings.cert === null) !== (settings.key === null)) {
    throw badOption(settings.cert === null ? 'keyFile' : 'certFile',
      'a client certificate needs its key: give both certFile and keyFile (or cert and key), or neither');
  }
  if (options.serverName !== undefined) {
    if (typeof options.serverName !== 'string' || options.serverName === '') {
      throw badOption('serverName', 'want a host name');
    }
    settings.serverName = options.serverName;
  }
  if (options.insecure !== undefined) {
    if (typeof options.insecure !== 'boolean') throw badOption('insecure', 'want true or false');
    settings.insecure = options.insecure;
  }
  return settings;
}

// node:tls connect options for a raw connection to `host`:`port`. The
// certificate must name `settings.serverName` or else `host`; SNI carries
// that name unless it is an IP address (RFC 6066 forbids IPs in SNI).
function rawTlsConnectOptions(host, port, settings, alpn = RAW_ALPN_PROTOCOL) {
  const name = settings.serverName || host;
  const options = {
    host,
    port,
    ALPNProtocols: [alpn],
    minVersion: MIN_TLS_VERSION,
    rejectUnauthorized: !settings.insecure,
    checkServerIdentity: (unused, certificate) => tls.checkServerIdentity(name, certificate),
  };
  if (!net.isIP(name)) options.servername = name;
  if (settings.ca !== null) options.ca = settings.ca;
  if (settings.cert !== null) {
    options.cert = settings.cert;
    options.key = settings.key;
  }
  return options;
}

// What went wrong in a handshake, by node:tls's error code (raw) or by the
// words of its message (gRPC: grpc-js passes on only the message). OpenSSL's
// own reasons are long and name source files, so they are replaced, not
// quoted; certificate verification messages are short and kept.
const TLS_FAILURES = Object.freeze([
  {
    codes: ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED',
      'CERT_REJECTED', 'INVALID_CA'],
    words: /unable to verify the first certificate|unable to get (local )?issuer certificate|self[- ]signed certificate|certificate signature failure|certificate not trusted|certificate rejected|invalid CA certificate/,
    reason: () => 'server certificate is not trusted',
    quote: true,
  },
  {
    codes: ['CERT_HAS_EXPIRED'],
    words: /certificate has expired/,
    reason: () => 'server certificate has expired',
  },
  {
    codes: ['CERT_NOT_YET_VALID'],
    words: /certificate is not yet valid/,
    reason: () => 'server certificate is not yet valid',
  },
  {
    codes: ['ERR_TLS_CERT_ALTNAME_INVALID'],
    words: /does not match certificate's altnames/,
    reason: ({ name }) => `server certificate does not match host "${name}"`,
    quote: true,
  },
  {
    codes: ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'],
    words: /alert certificate required/,
    reason: () => 'client certificate required (the server wants mTLS: set tls.certFile and tls.keyFile)',
  },
  {
    codes: ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
      'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
      'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED'],
    words: /alert (unknown ca|bad certificate|certificate unknown|certificate expired|access denied)/,
    reason: () => 'the server refused the client certificate',
  },
  {
    codes: ['ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL'],
    words: /no application protocol/,
    reason: ({ alpn }) => `the server does not speak ${alpn} (ALPN)`,
  },
  {
    codes: ['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'ERR_SSL_UNSUPPORTED_PROTOCOL'],
    words: /alert protocol version|unsupported protocol/,
    reason: () => 'no TLS version both sides accept',
  },
  {
    codes: ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE'],
    words: /alert handshake failure/,
    reason: () => 'the server refused the handshake (does it want a client certificate?)',
  },
  {
    codes: ['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_UNKNOWN_PROTOCOL',
      'ERR_SSL_HTTP_REQUEST'],
    words: /wrong version number|packet length too long|unknown protocol|http request/,
    reason: ({ plaintextScheme }) => `the server did not speak TLS (a plaintext port? use ${plaintextScheme}://)`,
  },
  {
    codes: [],
    words: /disconnected before secure TLS connection was established/,
    reason: ({ plaintextScheme }) =>
      `the server closed the connection during the handshake (a plaintext port? use ${plaintextScheme}://)`,
  },
]);

// Node's short message inside grpc-js's details ("No connection
// established. Last error: Error [CODE]: MESSAGE. Resolution note: ...").
function quotedMessage(message) {
  const match = /Last error: (?:Error(?: \[\w+\])?: )?(.*?)\.? Resolution note/s.exec(message);
  return (match === null ? message : match[1]).trim();
}

// "TLS handshake with ADDRESS failed: REASON", or null when `error`
// ({ code, message }: node:tls's Error, or { message } with grpc-js's
// details) is no handshake failure this table knows.
//   where: { address, name (the name the certificate must match),
//            alpn ('dualrpc/1' | 'h2'), plaintextScheme ('raw' | 'grpc') }
function describeTlsFailure(error, where) {
  const code = typeof error.code === 'string' ? error.code : '';
  const message = String(error.message || '');
  const failure = TLS_FAILURES.find((known) => known.codes.includes(code))
    || TLS_FAILURES.find((known) => known.words.test(message));
  if (failure === undefined) return null;
  const quote = failure.quote ? ` (${quotedMessage(message)})` : '';
  return `TLS handshake with ${where.address} failed: ${failure.reason(where)}${quote}`;
}

// A probe handshake waits at most this long for the server.
const PROBE_TIMEOUT_MS = 2000;

// grpc-js says only "Failed to connect" when the server closes the
// connection after a TLS handshake that succeeded on the client's side:
// what grpc++ does, without an alert, to a TLS 1.3 client that sent no
// certificate where one is required (the client's handshake is over before
// the server reads its Certificate message). One handshake of our own, as
// grpcs:// makes it (ALPN h2, same CA and name), tells that case apart: an
// HTTP/2 server sends SETTINGS at once, so a close with nothing read is a
// refusal. Resolves with describeTlsFailure's words, or null when the probe
// learns nothing (it connects and reads, times out, or cannot connect).
function probeGrpcTlsFailure(host, port, settings, where) {
  return new Promise((resolve) => {
    let settled = false;
    let handshaken = false;
    const done = (words) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(words);
    };
    const socket = tls.connect(rawTlsConnectOptions(host, port, settings, 'h2'));
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(null));
    socket.on('secureConnect', () => { handshaken = true; });
    socket.on('data', () => done(null));
    socket.on('error', (error) => {
      const described = describeTlsFailure(error, where);
      done(handshaken && described === null ? closedAfterHandshake(settings, where) : described);
    });
    socket.on('close', () => done(handshaken ? closedAfterHandshake(settings, where) : null));
  });
}

function closedAfterHandshake(settings, where) {
  const why = settings.cert === null
    ? 'client certificate required? (a server that wants mTLS closes so: set tls.certFile and tls.keyFile)'
    : 'client certificate refused? (a server that does not trust it closes so)';
  return `TLS handshake with ${where.address} failed: the server closed the connection right after `
    + `the handshake: ${why}`;
}

module.exports = {
  RAW_ALPN_PROTOCOL,
  probeGrpcTlsFailure,
  MIN_TLS_VERSION,
  tlsSettings,
  rawTlsConnectOptions,
  describeTlsFailure,
};
