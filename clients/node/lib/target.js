'use strict';
// Targets, as the C++ client reads them (src/dualrpc/client/target.h):
//
//   grpc://HOST:PORT or HOST:PORT               gRPC over TCP (HOST may be [IPv6])
//   unix:///ABS/PATH or unix:REL/PATH           gRPC over a unix socket
//   raw://HOST:PORT                             raw over TCP
//   raw+unix:///ABS/PATH or raw+unix:REL/PATH   raw over a unix socket
//   grpcs://HOST:PORT                           gRPC over TLS (ALPN h2)
//   raws://HOST:PORT                            raw over TLS (ALPN dualrpc/1)

const EXPECTED_FORM = 'HOST:PORT or grpc://HOST:PORT (gRPC), grpcs://HOST:PORT (gRPC over TLS), '
  + 'raw://HOST:PORT (raw), raws://HOST:PORT (raw over TLS), unix:///PATH or unix:PATH (gRPC on a unix socket), raw+unix:///PATH or raw+unix:PATH '
  + '(raw on a unix socket)';
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;
const SCHEME_HOST_PORT = /^(raw|grpc)(s?):\/\/(.*?)\/?$/;
// sockaddr_un.sun_path holds 108 bytes on Linux, the last one a NUL.
const MAX_UNIX_PATH_BYTES = 107;

function bad(target, why) {
  return new TypeError(`dualrpc.connect: bad target ${JSON.stringify(target)}: ${why} (want ${EXPECTED_FORM})`);
}

function parseUnix(target, scheme, unixTarget) {
  let path = unixTarget.slice('unix:'.length);
  if (unixTarget.startsWith('unix://')) {
    path = unixTarget.slice('unix://'.length);
    if (!path.startsWith('/')) throw bad(target, 'a unix target has no authority: unix:///ABS/PATH');
  }
  if (path === '') throw bad(target, 'no socket path');
  if (path.includes('\0') || Buffer.byteLength(path) > MAX_UNIX_PATH_BYTES) {
    throw bad(target, `socket path longer than ${MAX_UNIX_PATH_BYTES} bytes or holding NUL`);
  }
  // What grpc-js takes for this socket.
  const hostPort = path.startsWith('/') ? `unix://${path}` : `unix:${path}`;
  return { scheme, tls: false, host: '', port: 0, path, hostPort };
}

function parseHostPort(target, scheme, tls, authority) {
  const match = HOST_PORT.exec(authority);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || match[1] === '[]' || !(port >= 1 && port <= 65535)) {
    throw bad(target, 'not HOST:PORT with a port in 1..65535');
  }
  const host = match[1].startsWith('[') ? match[1].slice(1, -1) : match[1];
  return { scheme, tls, host, port, path: '', hostPort: `${match[1]}:${port}` };
}

// { scheme: 'grpc'|'raw', tls, host, port, path, hostPort } of one of the
// forms above: `tls` is true for grpcs:// and raws:// (never for a unix
// socket); `path` is set (and host, port empty) for a unix socket;
// `hostPort` is what grpc-js is given. Throws TypeError otherwise.
function parseTarget(target) {
  if (typeof target !== 'string') throw bad(target, 'not a string');
  if (target.startsWith('unix:')) return parseUnix(target, 'grpc', target);
  if (target.startsWith('raw+unix:')) return parseUnix(target, 'raw', target.slice('raw+'.length));
  if (!target.includes('://')) return parseHostPort(target, 'grpc', false, target);
  const match = SCHEME_HOST_PORT.exec(target);
  if (match === null) throw bad(target, 'unsupported scheme');
  return parseHostPort(target, match[1], match[2] === 's', match[3]);
}

module.exports = { parseTarget };
