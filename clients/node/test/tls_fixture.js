'use strict';
// TLS endpoints for the Node client's TLS tests (tls.test.js), from the
// repository's one certificate generator (tests/testing/make_test_certs.sh),
// in one of two modes chosen by $DUALRPC_TLS_FIXTURE:
//
//   relay  (default) a plaintext dualrpc-server ($DUALRPC_SERVER) behind
//          TLS-terminating relays written here (node:tls, ALPN h2 in front
//          of its gRPC port, dualrpc/1 in front of its raw port): the client
//          is tested before the server has TLS.
//   server the same dualrpc-server started with --tls_cert / --tls_key
//          (and --tls_client_ca for mTLS).
//
// Either way tlsEndpoints() resolves with { grpcs, raws } targets for one
// certificate; the tests do not know which mode runs. The plaintext server
// (startPlaintextBackend) serves the plaintext/TLS mismatch tests too.

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');

const { startServer, stopServer } = require('./conformance_runner');

const REPO_DIR = path.resolve(__dirname, '..', '..', '..');
const MAKE_TEST_CERTS = path.join(REPO_DIR, 'tests', 'testing', 'make_test_certs.sh');
const MODES = Object.freeze(['relay', 'server']);
// The generator runs in about a second; this bounds a broken openssl.
const MAKE_CERTS_TIMEOUT_MS = 30000;

function mode() {
  const chosen = process.env.DUALRPC_TLS_FIXTURE || 'relay';
  assert.ok(MODES.includes(chosen), `DUALRPC_TLS_FIXTURE=${chosen}: want one of ${MODES.join(', ')}`);
  return chosen;
}

function serverPath() {
  const server = process.env.DUALRPC_SERVER;
  assert.ok(server && fs.existsSync(server),
    `set DUALRPC_SERVER to the dualrpc-server binary (ctest does), not ${JSON.stringify(server)}`);
  return server;
}

function tempDir(t, prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// The certificates of make_test_certs.sh in a fresh directory:
// { dir, file(name) -> path, read(name) -> Buffer, clientSubject }.
function makeCerts(t) {
  const dir = tempDir(t, 'dualrpc-node-certs-');
  childProcess.execFileSync('sh', [MAKE_TEST_CERTS, dir], { stdio: 'pipe', timeout: MAKE_CERTS_TIMEOUT_MS });
  const file = (name) => path.join(dir, name);
  return {
    dir,
    file,
    read: (name) => fs.readFileSync(file(name)),
    clientSubject: fs.readFileSync(file('client.subject'), 'utf8').trim(),
  };
}

// A served root with one file, docs/a.md ("hello").
function servedRoot(t) {
  const root = tempDir(t, 'dualrpc-node-tls-root-');
  fs.mkdirSync(path.join(root, 'docs'));
  fs.writeFileSync(path.join(root, 'docs', 'a.md'), 'hello');
  return root;
}

// dualrpc-server with `extraFlags` after the launcher's own, through a
// wrapper script (so the one launcher, conformance_runner's startServer,
// starts it); stopped after the test. Resolves with { grpc, raw }
// addresses (HOST:PORT).
async function startDualrpcServer(t, root, extraFlags) {
  const workDir = tempDir(t, 'dualrpc-node-tls-server-');
  let executable = serverPath();
  if (extraFlags.length > 0) {
    executable = path.join(workDir, 'server.sh');
    const quoted = [serverPath(), ...extraFlags].map((word) => `'${word.replace(/'/g, `'\\''`)}'`);
    fs.writeFileSync(executable, `#!/bin/sh\nexec ${quoted.join(' ')} "$@"\n`, { mode: 0o755 });
  }
  const started = await startServer(executable, root, workDir);
  t.after(() => stopServer(started.process));
  return started.addresses;
}

function portOf(address) {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

// A TLS server relaying each connection, once its handshake is done, to
// 127.0.0.1:`backendPort` in plaintext. `alpn`: the one protocol it
// offers. `clientCa`: PEM; then a client certificate signed by it is
// required (mTLS). `subjects`: the subjects of the client certificates
// accepted are pushed there, RFC 2253 order (as the server reports them).
async function startRelay(t, { key, cert, alpn, backendPort, clientCa = null, subjects = [] }) {
  const sockets = new Set();
  const server = tls.createServer({
    key,
    cert,
    ALPNProtocols: [alpn],
    minVersion: 'TLSv1.2',
    requestCert: clientCa !== null,
    rejectUnauthorized: clientCa !== null,
    ...(clientCa === null ? {} : { ca: clientCa }),
  }, (secure) => {
    const peer = secure.getPeerCertificate();
    if (peer && peer.subject) {
      subjects.push(Object.entries(peer.subject).reverse().map(([k, v]) => `${k}=${v}`).join(','));
    }
    const upstream = net.connect(backendPort, '127.0.0.1');
    for (const socket of [secure, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {
        secure.destroy();
        upstream.destroy();
      });
      socket.on('close', () => sockets.delete(socket));
    }
    secure.pipe(upstream);
    upstream.pipe(secure);
  });
  // A client that fails the handshake is the tests' business, not an error here.
  server.on('tlsClientError', () => {});
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return server.address().port;
}

// What a test file's before() hook starts and its after() hook stops:
// `after(fn)` as a test context's, run by stop() in reverse order.
class FileScope {
  constructor() {
    this.cleanups_ = [];
  }

  after(fn) {
    this.cleanups_.push(fn);
  }

  async stop() {
    for (const fn of this.cleanups_.splice(0).reverse()) await fn();
  }
}

// The plaintext dualrpc-server a test file shares (start it in before(),
// stop `scope` in after()): { grpc, raw } (HOST:PORT), { grpcTarget,
// rawTarget }. Relay mode puts the relays in front of it.
async function startPlaintextBackend(scope) {
  const addresses = await startDualrpcServer(scope, servedRoot(scope), []);
  return { ...addresses, grpcTarget: `grpc://${addresses.grpc}`, rawTarget: `raw://${addresses.raw}` };
}

// { grpcs, raws } targets served with certificate `certName` (server,
// expired, otherhost, untrusted: make_test_certs.sh); `mtls`: client
// certificates signed by the test CA are required. `subjects` as in
// startRelay (relay mode only; the server keeps its own).
// `backend`: startPlaintextBackend's.
async function tlsEndpoints(t, certs, backend, { certName = 'server', mtls = false, subjects = [] } = {}) {
  if (mode() === 'server') {
    const flags = ['--tls_cert', certs.file(`${certName}.pem`), '--tls_key', certs.file(`${certName}.key`)];
    if (mtls) flags.push('--tls_client_ca', certs.file('ca.pem'));
    const addresses = await startDualrpcServer(t, servedRoot(t), flags);
    return { grpcs: `grpcs://localhost:${portOf(addresses.grpc)}`, raws: `raws://localhost:${portOf(addresses.raw)}` };
  }
  const common = {
    key: certs.read(`${certName}.key`),
    cert: certs.read(`${certName}.pem`),
    clientCa: mtls ? certs.read('ca.pem') : null,
    subjects,
  };
  const grpcPort = await startRelay(t, { ...common, alpn: 'h2', backendPort: portOf(backend.grpc) });
  const rawPort = await startRelay(t, { ...common, alpn: 'dualrpc/1', backendPort: portOf(backend.raw) });
  return { grpcs: `grpcs://localhost:${grpcPort}`, raws: `raws://localhost:${rawPort}` };
}

module.exports = {
  mode, FileScope, makeCerts, startRelay, startPlaintextBackend, tlsEndpoints, portOf, tempDir, servedRoot,
  startDualrpcServer,
};
