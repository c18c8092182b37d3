'use strict';
// Streaming calls of the Node client over gRPC, against a grpc-js server
// written here (test-only) that implements FileService's WalkTree (server
// streaming) and EchoStream (bidi), and a client-streaming Gather
// (protoDirWithGather): the same API and outcomes as over raw
// (streaming_raw.test.js). Run: node --test test/streaming_grpc.test.js

const assert = require('node:assert/strict');
const { Readable } = require('node:stream');
const { test } = require('node:test');
const grpc = require('@grpc/grpc-js');

const dualrpc = require('..');
const { loadContract } = require('../lib/protos');
const { GATHER, protoDirWithGather } = require('./fake_raw_server');
const { runCase, compare } = require('./conformance_runner');
const CASES = require('../../../tests/conformance/cases.json');

const contract = loadContract();
const EchoRequest = contract.lookupType('dualrpc.v1.EchoRequest');
const EchoResponse = contract.lookupType('dualrpc.v1.EchoResponse');
const WalkTreeRequest = contract.lookupType('dualrpc.v1.WalkTreeRequest');
const WalkTreeResponse = contract.lookupType('dualrpc.v1.WalkTreeResponse');

function method(path, requestType, responseType, requestStream, responseStream) {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: (message) => Buffer.from(requestType.encode(message).finish()),
    requestDeserialize: (bytes) => requestType.decode(bytes),
    responseSerialize: (message) => Buffer.from(responseType.encode(message).finish()),
    responseDeserialize: (bytes) => responseType.decode(bytes),
  };
}

const SERVICE = {
  WalkTree: method('/dualrpc.v1.FileService/WalkTree', WalkTreeRequest, WalkTreeResponse, false, true),
  EchoStream: method('/dualrpc.v1.FileService/EchoStream', EchoRequest, EchoResponse, true, true),
  Gather: method(GATHER, EchoRequest, EchoResponse, true, false),
};

function entry(path) {
  return { path, depth: path.split('/').length, entry: { name: path.split('/').pop(), type: 1 } };
}

// The behaviour of each method, by the request's path (WalkTree) or
// payload (EchoStream):
//   WalkTree "docs": two batches (2 entries, then 1), trailer walked=yes,
//            echoing the request metadata "who" as trailer "who".
//   WalkTree "fail": one batch, then PERMISSION_DENIED with trailer reason=policy.
//   EchoStream: echoes each payload; the payload "hang" is echoed and then
//            nothing more is written (the call waits for its deadline or
//            cancellation).
//   Gather: the payloads concatenated.
// `echoCancelled` resolves when an EchoStream call sees its cancellation.
async function startServer(t) {
  let onEchoCancelled;
  const echoCancelled = new Promise((resolve) => {
    onEchoCancelled = resolve;
  });
  const server = new grpc.Server();
  server.addService(SERVICE, {
    WalkTree(call) {
      const trailers = new grpc.Metadata();
      if (call.request.path === 'fail') {
        call.write({ entries: [entry('a')] });
        trailers.set('reason', 'policy');
        call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: 'no more for you', metadata: trailers });
        return;
      }
      call.write({ entries: [entry('docs/a'), entry('docs/b')] });
      call.write({ entries: [] });
      call.write({ entries: [entry('docs/c/d')] });
      trailers.set('walked', 'yes');
      for (const who of call.metadata.get('who')) trailers.add('who', who);
      call.end(trailers);
    },
    EchoStream(call) {
      call.on('cancelled', () => onEchoCancelled());
      call.on('data', (request) => {
        call.write({ payload: request.payload });
      });
      call.on('end', () => call.end());
    },
    Gather(call, callback) {
      const parts = [];
      call.on('data', (request) => parts.push(Buffer.from(request.payload)));
      call.on('end', () => callback(null, { payload: Buffer.concat(parts) }));
    },
  });
  const port = await new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  t.after(() => server.forceShutdown());
  const client = dualrpc.connect(`grpc://127.0.0.1:${port}`, { protoDir: protoDirWithGather(t) });
  t.after(() => client.close());
  return { client, echoCancelled };
}

async function drain(call) {
  const items = [];
  try {
    for await (const item of call) items.push(item);
    return { items };
  } catch (error) {
    return { items, error };
  }
}

function expectRpcError(outcome, codeName) {
  assert.ok(outcome.error instanceof dualrpc.RpcError, `want RpcError ${codeName}, got ${outcome.error}`);
  assert.equal(outcome.error.codeName, codeName, outcome.error.message);
  return outcome.error;
}

test('grpc walkTree: batches flattened into TreeEntry objects, metadata sent, trailers received', async (t) => {
  const { client } = await startServer(t);
  const call = client.walkTree({ path: 'docs' }, { metadata: { who: 'node' } });
  assert.ok(call instanceof Readable);
  const { items, error } = await drain(call);
  assert.equal(error, undefined);
  assert.deepEqual(items.map((item) => [item.path, item.depth, item.entry.name]),
    [['docs/a', 2, 'a'], ['docs/b', 2, 'b'], ['docs/c/d', 3, 'd']]);
  const trailers = await call.trailers;
  assert.deepEqual(trailers.walked, ['yes']);
  assert.deepEqual(trailers.who, ['node']);
});

test('grpc walkTree: error after a message: yielded, then RpcError with its trailers', async (t) => {
  const { client } = await startServer(t);
  const outcome = await drain(client.walkTree({ path: 'fail' }));
  const error = expectRpcError(outcome, 'PERMISSION_DENIED');
  assert.equal(error.details, 'no more for you');
  assert.deepEqual(error.metadata.reason, ['policy']);
  assert.deepEqual(outcome.items.map((item) => item.path), ['a']);
});

test('grpc echoStream: write, read, in order; end; the convenience with an iterable', async (t) => {
  const { client } = await startServer(t);
  const call = client.echoStream();
  const responses = call[Symbol.asyncIterator]();
  for (const payload of ['one', '', 'three']) {
    call.write(payload);
    assert.equal(String((await responses.next()).value), payload);
  }
  call.end();
  assert.equal((await responses.next()).done, true);

  const { items } = await drain(client.echoStream(['a', 'b', 'c']));
  assert.deepEqual(items.map(String), ['a', 'b', 'c']);
  const generic = await drain(client.bidiStream('/dualrpc.v1.FileService/EchoStream', [{ payload: Buffer.from('g') }]));
  assert.deepEqual(generic.items.map((item) => String(item.payload)), ['g']);
});

test('grpc client streaming: the requests of an async iterable, one response', async (t) => {
  const { client } = await startServer(t);
  async function* requests() {
    yield { payload: Buffer.from('x') };
    yield { payload: Buffer.from('y') };
  }
  const response = await client.clientStream(GATHER, requests());
  assert.equal(String(response.payload), 'xy');
  const call = client.clientStreamCall(GATHER);
  call.write({ payload: Buffer.from('hand') });
  call.end();
  assert.equal(String((await call.response).payload), 'hand');
});

test('grpc deadline mid-stream: DEADLINE_EXCEEDED after the responses so far', async (t) => {
  const { client } = await startServer(t);
  const started = performance.now();
  const call = client.echoStream({ deadlineMs: 200 });
  const responses = call[Symbol.asyncIterator]();
  call.write('hang');
  assert.equal(String((await responses.next()).value), 'hang');
  const outcome = await responses.next().then(() => ({}), (error) => ({ error }));
  expectRpcError(outcome, 'DEADLINE_EXCEEDED');
  assert.ok(performance.now() - started >= 190, 'not before the deadline');
});

test('grpc cancel(): CANCELLED at once; the server sees the cancellation', async (t) => {
  const { client, echoCancelled } = await startServer(t);
  const call = client.echoStream();
  const responses = call[Symbol.asyncIterator]();
  call.write('a');
  await responses.next();
  call.cancel();
  expectRpcError(await responses.next().then(() => ({}), (error) => ({ error })), 'CANCELLED');
  await echoCancelled;
});

test('grpc: a request over the message limit fails the call with RESOURCE_EXHAUSTED', async (t) => {
  const { client } = await startServer(t);
  const call = client.echoStream(['ok', 'x'.repeat(5 * 1024 * 1024)]);
  const outcome = await drain(call);
  expectRpcError(outcome, 'RESOURCE_EXHAUSTED');
});

// The runner's EchoStreamScript (conformance.proto) checked against this
// server, whose EchoStream behaves as the contract says: every echo_stream
// case must pass here as it must against dualrpc-server.
test('conformance runner: the echo_stream cases pass against a correct EchoStream', async (t) => {
  const { client } = await startServer(t);
  // Auth cases need the conformance server's tokens: not this fake's business.
  const cases = CASES.cases.filter(
    (testCase) => testCase.echoStream !== undefined && testCase.authorization === undefined);
  assert.ok(cases.length >= 6, `${cases.length} echo_stream cases`);
  for (const testCase of cases) {
    assert.deepEqual(compare(testCase, await runCase(client, testCase)), [], testCase.name);
  }
  // And the comparison can fail: a dropped response is reported.
  const inOrder = cases.find((testCase) => testCase.name === 'echo_stream_in_order');
  const outcome = await runCase(client, inOrder);
  outcome.echoPayloads.pop();
  assert.notDeepEqual(compare(inOrder, outcome), []);
});

// expect.tree_entries is compared on the fields the case sets, whatever else
// the server fills in (mode, mtime), nested fields included.
test('conformance runner: tree entries compared on the fields set', () => {
  const walkRoot = CASES.cases.find((testCase) => testCase.name === 'walk_root');
  const treeEntries = walkRoot.expect.treeEntries.map((want) => ({
    ...want, rawPath: Buffer.alloc(0), error: null,
    entry: { ...want.entry, mode: 420, modifyTime: { seconds: '1', nanos: 0 } },
  }));
  assert.deepEqual(compare(walkRoot, { code: 'OK', treeEntries }), []);
  treeEntries[3] = { ...treeEntries[3], entry: { ...treeEntries[3].entry, sizeBytes: '4' } };
  assert.deepEqual(compare(walkRoot, { code: 'OK', treeEntries }), ['tree entry 3.entry.sizeBytes: "4", want "3"']);
  assert.equal(compare(walkRoot, { code: 'OK', treeEntries: treeEntries.slice(1) }).length, 1);
});

test('grpc close(): streaming calls in flight fail with CANCELLED, later ones too', async (t) => {
  const { client } = await startServer(t);
  const call = client.echoStream();
  const responses = call[Symbol.asyncIterator]();
  call.write('a');
  await responses.next();
  client.close();
  expectRpcError(await responses.next().then(() => ({}), (error) => ({ error })), 'CANCELLED');
  expectRpcError(await drain(client.walkTree({ path: 'docs' })), 'CANCELLED');
});

test('grpc: a failing request iterable ends the call with its error', async (t) => {
  const { client } = await startServer(t);
  async function* broken() {
    yield 'a';
    throw new Error('disk on fire');
  }
  const outcome = await drain(client.echoStream(broken()));
  assert.match(expectRpcError(outcome, 'CANCELLED').details, /disk on fire/);
});
