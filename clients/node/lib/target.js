'use strict';
// Targets, as the C++ client reads them (src/dualrpc/client/target.h; the
// syntax is issue 13's decision D1, identical in C++, Python and Node):
//
//   grpc://HOST:PORT or HOST:PORT               gRPC over TCP (HOST may be [IPv6])
//   grpc://H1:P1,H2:P2 or H1:P1,H2:P2           gRPC, round_robin over IP literals of one family
//   dns:///NAME:PORT                            gRPC, grpc-js's DNS resolver, round_robin
//   unix:///ABS/PATH or unix:REL/PATH           gRPC over a unix socket
//   raw://HOST:PORT                             raw over TCP (one backend)
//   raw://H1:P1,H2:P2                           raw, balanced over the addresses (raw_balancer.js)
//   raw+dns:///NAME:PORT                        raw, balanced over every address NAME resolves to
//   raw+unix:///ABS/PATH or raw+unix:REL/PATH   raw over a unix socket
//   grpcs://…, grpcs+dns:///NAME:PORT           gRPC over TLS (ALPN h2)
//   raws://…, raws+dns:///NAME:PORT             raw over TLS (ALPN dualrpc/1)
//
// A list holds at most MAX_ADDRESSES entries; duplicates are allowed (a
// duplicate is one more backend: a weight).

const net = require('node:net');

const EXPECTED_FORM = 'HOST:PORT[,HOST:PORT...] or grpc://HOST:PORT[,...] (gRPC), dns:///NAME:PORT (gRPC), '
  + 'grpcs://HOST:PORT[,...] or grpcs+dns:///NAME:PORT (gRPC over TLS), '
  + 'raw://HOST:PORT[,...] or raw+dns:///NAME:PORT (raw), raws://HOST:PORT[,...] or raws+dns:///NAME:PORT '
  + '(raw over TLS), unix:///PATH or unix:PATH (gRPC on a unix socket), raw+unix:///PATH or raw+unix:PATH '
  + '(raw on a unix socket)';
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;
// scheme → [transport, tls, dns].
const SCHEMES = Object.freeze({
  grpc: ['grpc', false, false],
  grpcs: ['grpc', true, false],
  raw: ['raw', false, false],
  raws: ['raw', true, false],
  dns: ['grpc', false, true],
  'grpcs+dns': ['grpc', true, true],
  'raw+dns': ['raw', false, true],
  'raws+dns': ['raw', true, true],
});
const SCHEME_REST = /^([a-z][a-z+]*):\/\/(.*)$/;
// The longest address list a target may hold (D1).
const MAX_ADDRESSES = 64;
// sockaddr_un.sun_path holds 108 bytes on Linux, the last one a NUL.
const MAX_UNIX_PATH_BYTES = 107;
const GRPC_LIST_NEEDS_IPS = 'a list of addresses on grpc:// must be IP literals of one family; use dns:///NAME:PORT';

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
  return { scheme, tls: false, host: '', port: 0, path, hostPort, addresses: [], dnsName: null };
}

// { host, port, hostPort } of one HOST:PORT; `host` without brackets.
function parseAddress(target, authority) {
  const match = HOST_PORT.exec(authority);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || match[1] === '[]' || !(port >= 1 && port <= 65535)) {
    throw bad(target, 'not HOST:PORT with a port in 1..65535');
  }
  const host = match[1].startsWith('[') ? match[1].slice(1, -1) : match[1];
  return { host, port, hostPort: `${match[1]}:${port}` };
}

// grpc-js's own target for a list: ipv4:A:P,B:Q or ipv6:[A]:P,[B]:Q.
function grpcListTarget(target, addresses) {
  const family = net.isIP(addresses[0].host);
  if (family === 0 || !addresses.every((address) => net.isIP(address.host) === family)) {
    throw bad(target, GRPC_LIST_NEEDS_IPS);
  }
  return `ipv${family}:${addresses.map((address) => address.hostPort).join(',')}`;
}

function parseList(target, scheme, tls, authority) {
  const entries = authority.split(',');
  if (entries.length > MAX_ADDRESSES) throw bad(target, `more than ${MAX_ADDRESSES} addresses`);
  if (entries.length > 1 && entries.includes('')) throw bad(target, 'empty address in the list');
  const addresses = entries.map((entry) => parseAddress(target, entry));
  const [{ host, port }] = addresses;
  const hostPort = addresses.length === 1 ? addresses[0].hostPort
    : scheme === 'grpc' ? grpcListTarget(target, addresses) : null;
  return { scheme, tls, host, port, path: '', hostPort, addresses, dnsName: null };
}

// dns:///NAME:PORT and its raw and TLS variants: only the empty authority.
function parseDns(target, scheme, tls, rest) {
  const slash = rest.indexOf('/');
  if (slash !== 0) {
    throw bad(target, slash > 0 ? 'DNS server authority is not supported' : 'want dns:///NAME:PORT');
  }
  const address = parseAddress(target, rest.slice(1));
  return {
    scheme,
    tls,
    host: address.host,
    port: address.port,
    path: '',
    hostPort: `dns:///${address.hostPort}`,
    addresses: [],
    dnsName: address.host,
  };
}

// { scheme: 'grpc'|'raw', tls, host, port, path, hostPort, addresses, dnsName }
// of one of the forms above:
//   `tls`: true for the grpcs and raws schemes (never for a unix socket);
//   `path`: set (and host, port empty) for a unix socket;
//   `addresses`: [{ host, port, hostPort }] of a HOST:PORT list (one entry
//     for a single address), empty for DNS and unix targets;
//   `dnsName`: NAME of a dns:/// form (then host, port are NAME and PORT), else null;
//   `host`, `port`: the first address (the name a TLS certificate is checked against);
//   `hostPort`: what grpc-js is given (null for a raw list of several).
// Throws TypeError otherwise.
function parseTarget(target) {
  if (typeof target !== 'string') throw bad(target, 'not a string');
  if (target.startsWith('unix:')) return parseUnix(target, 'grpc', target);
  if (target.startsWith('raw+unix:')) return parseUnix(target, 'raw', target.slice('raw+'.length));
  if (!target.includes('://')) return parseList(target, 'grpc', false, target);
  const match = SCHEME_REST.exec(target);
  const scheme = match === null ? undefined : SCHEMES[match[1]];
  if (scheme === undefined || !Object.hasOwn(SCHEMES, match[1])) throw bad(target, 'unsupported scheme');
  const [transport, tls, dns] = scheme;
  if (dns) return parseDns(target, transport, tls, match[2]);
  // A trailing slash is allowed (grpc://h:1/), as in the C++ client.
  const authority = match[2].endsWith('/') ? match[2].slice(0, -1) : match[2];
  return parseList(target, transport, tls, authority);
}

module.exports = { parseTarget, MAX_ADDRESSES };
