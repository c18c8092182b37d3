'use strict';
// TLS on both transports (grpcs://, raws://) and channel-wide credentials
// (connect's token and metadata), through the public API against a real
// dualrpc-server: behind TLS-terminating relays, or serving TLS itself
// (tls_fixture.js; DUALRPC_TLS_FIXTURE=relay|server). Tokens are checked
// where the server's side can see them: test/fake_raw_server.js on raw, a
// grpc-js server here on gRPC, plaintext and behind a relay.
//
// Run: DUALRPC_SERVER=build/bin/dualrpc-server node --test test/tls.test.js

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, test } = require('node:test');
const grpc = require('@grpc/grpc-js');

const dualrpc = require('..');
const { loadContract } = require('../lib/protos');
const { FakeServer, T, okResponse, streamEnd, PREFACE_1_1 } = require('./fake_raw_server');
const {
  FileScope, makeCerts, portOf, servedRoot, startDualrpcServer, startPlaintextBackend, startRelay, tempDir,
  tlsEndpoints,
} = require('./tls_fixture');

const TRANSPORTS = Object.freeze(['grpc', 'raw']);
// Every call of these tests has a deadline well below the test timeout, so
// that a hang fails as DEADLINE_EXCEEDED instead of the test timing out.
const CALL_DEADLINE_MS = 10000;

const scope = new FileScope();
let certs;
let backend;
before(async () => {
  certs = makeCerts(scope);
  backend = await startPlaintextBackend(scope);
});
after(() => scope.stop());

function connect(t, target, options = {}) {
  const client = dualrpc.connect(target, { deadlineMs: CALL_DEADLINE_MS, ...options });
  t.after(() => client.close());
  return client;
}

const targetOf = (endpoints, transport) => endpoints[`${transport}s`];
const trustTestCa = () => ({ caFile: certs.file('ca.pem') });

async function rejection(promise) {
  return promise.then((value) => assert.fail(`resolved with ${value}, want an RpcError`), (error) => error);
}

// The call fails with UNAVAILABLE, its message holding every one of `words`.
async function failsUnavailable(promise, ...words) {
  const error = await rejection(promise);
  assert.ok(error instanceof dualrpc.RpcError, `want an RpcError, got ${error && error.stack}`);
  assert.equal(error.codeName, 'UNAVAILABLE', error.message);
  for (const word of words) assert.ok(error.message.includes(word), `${JSON.stringify(word)} not in: ${error.message}`);
  return error;
}

async function collect(call) {
  const items = [];
  for await (const item of call) items.push(item);
  return items;
}

// One unary and two streaming calls, answered by the served root of tls_fixture.js.
async function exerciseAllKinds(client) {
  assert.equal(String(await client.echo('over tls')), 'over tls');
  const { entries } = await client.listDirectory({ path: 'docs' });
  assert.deepEqual(entries.map((entry) => entry.name), ['a.md']);
  const walked = await collect(client.walkTree({ path: 'docs' }));
  assert.deepEqual(walked.map((entry) => entry.path), ['docs/a.md']);
  const echoed = await collect(client.echoStream(['one', 'two', 'three']));
  assert.deepEqual(echoed.map(String), ['one', 'two', 'three']);
}

for (const transport of TRANSPORTS) {
  test(`${transport}s: unary and streaming calls over TLS, verified against the CA file`, async (t) => {
    const endpoints = await tlsEndpoints(t, certs, backend);
    await exerciseAllKinds(connect(t, targetOf(endpoints, transport), { tls: trustTestCa() }));
  });

  test(`${transport}s: an IP target verifies against the certificate's IP address`, async (t) => {
    const endpoints = await tlsEndpoints(t, certs, backend);
    const target = targetOf(endpoints, transport).replace('localhost', '127.0.0.1');
    assert.equal(String(await connect(t, target, { tls: trustTestCa() }).echo('by ip')), 'by ip');
    const otherhost = await tlsEndpoints(t, certs, backend, { certName: 'otherhost' });
    const wrong = targetOf(otherhost, transport).replace('localhost', '127.0.0.1');
    await failsUnavailable(connect(t, wrong, { tls: trustTestCa() }).echo('x'), 'does not match host "127.0.0.1"');
  });

  test(`${transport}s: a list of two servers: each certificate checked against the first HOST, else serverName`,
    async (t) => {
      const listOf = async (certName) => {
        const ports = [];
        for (let i = 0; i < 2; i += 1) {
          const endpoints = await tlsEndpoints(t, certs, backend, { certName });
          ports.push(portOf(targetOf(endpoints, transport)));
        }
        return `${transport}s://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`;
      };
      const client = connect(t, await listOf('server'), { tls: trustTestCa() });
      for (let i = 0; i < 4; i += 1) assert.equal(String(await client.echo(`call ${i}`)), `call ${i}`);
      const otherhost = await listOf('otherhost');
      await failsUnavailable(connect(t, otherhost, { tls: trustTestCa() }).echo('x'),
        'does not match host "127.0.0.1"');
      const named = connect(t, otherhost, { tls: { ...trustTestCa(), serverName: 'other.example' } });
      assert.equal(String(await named.echo('named')), 'named');
    });

  test(`${transport}s: the CA as PEM text (tls.ca) works as tls.caFile`, async (t) => {
    const endpoints = await tlsEndpoints(t, certs, backend);
    const client = connect(t, targetOf(endpoints, transport), { tls: { ca: certs.read('ca.pem').toString() } });
    assert.equal(String(await client.echo('pem')), 'pem');
  });

  test(`${transport}s: without a CA the system trust store is used, which does not know the test CA`, async (t) => {
    const endpoints = await tlsEndpoints(t, certs, backend);
    await failsUnavailable(connect(t, targetOf(endpoints, transport)).echo('x'),
      'TLS handshake with', 'failed: server certificate is not trusted');
  });

  test(`${transport}s: mTLS: accepted with the client certificate, refused without it`, async (t) => {
    const subjects = [];
    const endpoints = await tlsEndpoints(t, certs, backend, { mtls: true, subjects });
    const target = targetOf(endpoints, transport);
    const withCert = connect(t, target, {
      tls: { ...trustTestCa(), certFile: certs.file('client.pem'), keyFile: certs.file('client.key') },
    });
    await exerciseAllKinds(withCert);
    if (subjects.length > 0) assert.deepEqual([...new Set(subjects)], [certs.clientSubject]);
    await failsUnavailable(connect(t, target, { tls: trustTestCa() }).echo('x'), 'client certificate required');
  });

  test(`${transport}s: untrusted, expired and wrong-host certificates fail with UNAVAILABLE saying which`, async (t) => {
    const cases = [
      ['untrusted', 'server certificate is not trusted'],
      ['expired', 'server certificate has expired'],
      ['otherhost', 'server certificate does not match host "localhost"'],
    ];
    for (const [certName, words] of cases) {
      const endpoints = await tlsEndpoints(t, certs, backend, { certName });
      const client = connect(t, targetOf(endpoints, transport), { tls: trustTestCa() });
      await failsUnavailable(client.echo('x'), words);
      // A streaming call fails the same way.
      await failsUnavailable(collect(client.echoStream(['x'])), words);
    }
  });

  test(`${transport}s: serverName: the certificate must name it instead of the target's host`, async (t) => {
    const endpoints = await tlsEndpoints(t, certs, backend, { certName: 'otherhost' });
    const target = targetOf(endpoints, transport);
    const overridden = connect(t, target, { tls: { ...trustTestCa(), serverName: 'other.example' } });
    assert.equal(String(await overridden.echo('renamed')), 'renamed');
    const wrongName = connect(t, target, { tls: { ...trustTestCa(), serverName: 'third.example' } });
    await failsUnavailable(wrongName.echo('x'), 'does not match host "third.example"');
  });

  test(`${transport}s: insecure skips verification (untrusted and expired) and still encrypts`, async (t) => {
    for (const certName of ['untrusted', 'expired']) {
      const endpoints = await tlsEndpoints(t, certs, backend, { certName });
      const client = connect(t, targetOf(endpoints, transport), { tls: { insecure: true } });
      assert.equal(String(await client.echo(certName)), certName);
    }
  });

  test(`${transport}s: a TLS client on the plaintext port fails at once, saying so`, async (t) => {
    const plainAddress = backend[transport];
    const client = connect(t, `${transport}s://localhost:${portOf(plainAddress)}`, { tls: trustTestCa() });
    await failsUnavailable(client.echo('x'), 'TLS handshake with', `a plaintext port? use ${transport}://`);
  });

  test(`${transport}: a plaintext client on the TLS port fails at once, saying so`, async (t) => {
    const endpoints = await tlsEndpoints(t, certs, backend);
    const tlsPort = portOf(targetOf(endpoints, transport));
    const client = connect(t, `${transport}://localhost:${tlsPort}`);
    await failsUnavailable(client.echo('x'), `a TLS port? use ${transport}s://`);
  });
}

for (const [transport, alpn, other] of [['grpc', 'h2', 'dualrpc/1'], ['raw', 'dualrpc/1', 'h2']]) {
  test(`${transport}s: a TLS server without ALPN ${alpn} fails the call saying so`, async (t) => {
    const port = await startRelay(t, { key: certs.read('server.key'), cert: certs.read('server.pem'), alpn: other,
      backendPort: portOf(backend[transport]) });
    const client = connect(t, `${transport}s://localhost:${port}`, { tls: trustTestCa() });
    await failsUnavailable(client.echo('x'), `the server does not speak ${alpn} (ALPN)`);
  });
}

test('raw: a server answering the preface with a TLS record (a TLS port): UNAVAILABLE saying so', async (t) => {
  // A TLS alert record (fatal, protocol_version), as an OpenSSL server may
  // answer bytes that are no ClientHello.
  const alert = Buffer.from([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]);
  const server = require('node:net').createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end(alert));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const client = connect(t, `raw://127.0.0.1:${server.address().port}`);
  await failsUnavailable(client.echo('x'), 'answered in TLS, not the raw protocol (a TLS port? use raws://)');
});

test('raws: the handshake counts against connectTimeoutMs (a server that never answers it)', async (t) => {
  const silent = require('node:net').createServer((socket) => socket.on('error', () => {}));
  const sockets = [];
  silent.on('connection', (socket) => sockets.push(socket));
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const client = connect(t, `raws://127.0.0.1:${silent.address().port}`,
    { tls: trustTestCa(), connectTimeoutMs: 200, deadlineMs: 5000 });
  await failsUnavailable(client.echo('x'), 'within 200 ms (TCP connect and TLS handshake)');
});

test('connect: TLS options are checked before anything is sent', () => {
  const refusals = [
    ['raw://localhost:1', { tls: {} }, 'needs a grpcs:// or raws:// target'],
    ['grpc://localhost:1', { tls: { insecure: true } }, 'needs a grpcs:// or raws:// target'],
    ['raws://localhost:1', { tls: { certFile: certs.file('client.pem') } }, 'needs its key'],
    ['grpcs://localhost:1', { tls: { keyFile: certs.file('client.key') } }, 'needs its key'],
    ['raws://localhost:1', { tls: { caFile: '/nonexistent/ca.pem' } }, 'cannot read "/nonexistent/ca.pem"'],
    ['raws://localhost:1', { tls: { caFile: certs.file('ca.pem'), ca: 'x' } }, 'not both'],
    ['raws://localhost:1', { tls: { cafile: 'x' } }, 'has no field cafile'],
    ['raws://localhost:1', { tls: { insecure: 'yes' } }, 'want true or false'],
    ['raws://localhost:1', { tls: { serverName: '' } }, 'want a host name'],
    ['raws://localhost:1', { token: 'has space' }, 'option token'],
    ['raws://localhost:1', { token: '' }, 'option token'],
    ['raw://localhost:1', { token: 't', metadata: { authorization: 'Bearer u' } }, 'not both'],
    ['raw://localhost:1', { metadata: { 'grpc-x': 'y' } }, 'option metadata'],
  ];
  for (const [target, options, words] of refusals) {
    assert.throws(() => dualrpc.connect(target, options),
      (error) => error instanceof TypeError && error.message.includes(words),
      `${target} ${JSON.stringify(options)}: want a TypeError with ${JSON.stringify(words)}`);
  }
});

// --- channel-wide credentials ------------------------------------------------

const contract = loadContract();
const EchoRequest = contract.lookupType('dualrpc.v1.EchoRequest');
const EchoResponse = contract.lookupType('dualrpc.v1.EchoResponse');

function grpcMethod(path, requestStream, responseStream) {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: (message) => Buffer.from(EchoRequest.encode(message).finish()),
    requestDeserialize: (bytes) => EchoRequest.decode(bytes),
    responseSerialize: (message) => Buffer.from(EchoResponse.encode(message).finish()),
    responseDeserialize: (bytes) => EchoResponse.decode(bytes),
  };
}

// A grpc-js server whose Echo and EchoStream answer with the request's
// "authorization" values joined by "|", for every request: what the
// server's side of a call sees. Echo of "fail" fails with the server's own
// UNAVAILABLE status, worded like a TLS failure. Resolves with its port.
async function startMetadataEchoServer(t) {
  const server = new grpc.Server();
  const seen = (metadata) => ({ payload: Buffer.from(metadata.get('authorization').join('|')) });
  server.addService({
    Echo: grpcMethod('/dualrpc.v1.FileService/Echo', false, false),
    EchoStream: grpcMethod('/dualrpc.v1.FileService/EchoStream', true, true),
  }, {
    Echo(call, callback) {
      if (String(call.request.payload) === 'fail') {
        callback({ code: grpc.status.UNAVAILABLE, details: 'backend certificate has expired' });
        return;
      }
      callback(null, seen(call.metadata));
    },
    EchoStream(call) {
      call.on('data', () => call.write(seen(call.metadata)));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  t.after(() => server.forceShutdown());
  return port;
}

for (const secure of [false, true]) {
  const name = secure ? 'grpcs' : 'grpc';
  test(`${name}: the token goes with every call as "authorization: Bearer", unless the call sets its own`, async (t) => {
    let port = await startMetadataEchoServer(t);
    if (secure) {
      port = await startRelay(t, { key: certs.read('server.key'), cert: certs.read('server.pem'), alpn: 'h2',
        backendPort: port });
    }
    const client = connect(t, `${name}://localhost:${port}`,
      { token: 's3cret', ...(secure ? { tls: trustTestCa() } : {}) });
    assert.equal(String(await client.echo('x')), 'Bearer s3cret');
    assert.deepEqual((await collect(client.echoStream(['a', 'b']))).map(String), ['Bearer s3cret', 'Bearer s3cret']);
    const own = await client.echo('x', { metadata: { authorization: 'Bearer mine' } });
    assert.equal(String(own), 'Bearer mine');
    // A status from the server is passed on as it is, TLS words or not.
    const error = await failsUnavailable(client.echo('fail'));
    assert.equal(error.details, 'backend certificate has expired');
  });

  const rawName = secure ? 'raws' : 'raw';
  test(`${rawName}: the token and channel metadata reach the server on unary and streaming calls`, async (t) => {
    const server = await FakeServer.start(t, { preface: PREFACE_1_1 });
    let target = server.target;
    if (secure) {
      const port = await startRelay(t, { key: certs.read('server.key'), cert: certs.read('server.pem'),
        alpn: 'dualrpc/1', backendPort: portOf(target) });
      target = `raws://localhost:${port}`;
    }
    const client = connect(t, target,
      { token: 's3cret', metadata: { tenant: 'blue' }, ...(secure ? { tls: trustTestCa() } : {}) });
    const headerOf = (request) => Object.fromEntries(
      request.header.metadata.map(({ key, value }) => [key, Buffer.from(value).toString()]));

    const reply = client.echo('x', { metadata: { 'x-call': '1' } });
    const peer = await server.peer(0);
    const unary = await peer.nextOfType(T.REQUEST);
    assert.deepEqual(headerOf(unary), { authorization: 'Bearer s3cret', tenant: 'blue', 'x-call': '1' });
    peer.write(okResponse(unary.callId, unary.message));
    assert.equal(String(await reply), 'x');

    const stream = client.walkTree({ path: '' });
    const streaming = await peer.nextOfType(T.REQUEST);
    assert.deepEqual(headerOf(streaming), { authorization: 'Bearer s3cret', tenant: 'blue' });
    peer.write(streamEnd(streaming.callId));
    assert.deepEqual(await collect(stream), []);

    const overridden = client.echo('y', { metadata: { authorization: 'Bearer mine', tenant: 'red' } });
    const third = await peer.nextOfType(T.REQUEST);
    assert.deepEqual(headerOf(third), { authorization: 'Bearer mine', tenant: 'red' });
    peer.write(okResponse(third.callId, third.message));
    await overridden;
  });
}

// connect's token against a real dualrpc-server --auth_tokens (it checks
// the token, not a fake), plaintext and with the server's own TLS: the right
// token is served on unary and streaming calls, a wrong one is
// UNAUTHENTICATED, on both transports.
for (const secure of [false, true]) {
  test(`token: a real --auth_tokens server serves the right token and refuses a wrong one (${
    secure ? 'grpcs, raws' : 'grpc, raw'})`, async (t) => {
    const tokens = path.join(tempDir(t, 'dualrpc-node-tokens-'), 'tokens');
    fs.writeFileSync(tokens, '# test\nright-secret alice\n');
    const flags = ['--auth_tokens', tokens];
    if (secure) flags.push('--tls_cert', certs.file('server.pem'), '--tls_key', certs.file('server.key'));
    const addresses = await startDualrpcServer(t, servedRoot(t), flags);
    for (const transport of TRANSPORTS) {
      const target = `${transport}${secure ? 's' : ''}://localhost:${portOf(addresses[transport])}`;
      const tls = secure ? { tls: trustTestCa() } : {};
      const right = connect(t, target, { token: 'right-secret', ...tls });
      assert.equal(String(await right.echo('ok')), 'ok', target);
      assert.deepEqual((await collect(right.walkTree({ path: 'docs' }))).map((entry) => entry.path), ['docs/a.md']);
      const wrong = connect(t, target, { token: 'wrong-secret', ...tls });
      const error = await rejection(wrong.echo('x'));
      assert.equal(error.codeName, 'UNAUTHENTICATED', `${target}: ${error.message}`);
      assert.ok(!error.message.includes('wrong-secret'), error.message);
      const streamError = await rejection(collect(wrong.walkTree({ path: 'docs' })));
      assert.equal(streamError.codeName, 'UNAUTHENTICATED', `${target}: ${streamError.message}`);
    }
  });
}
