'use strict';
// Streaming calls of the Node client over the raw protocol (docs/PROTOCOL.md
// §7) against a scripted 1.1 peer (test/fake_raw_server.js) that checks and
// writes every frame by hand: call shapes (§7.2), the version handshake
// (§7.1), deadlines and CANCEL (§7.3), flow control both ways (§7.4) and the
// client's side of §7.5. Run: node --test test/streaming_raw.test.js

const assert = require('node:assert/strict');
const { Readable } = require('node:stream');
const { test } = require('node:test');

const dualrpc = require('..');
const { loadContract } = require('../lib/protos');
const {
  ECHO, T, END_STREAM, COMPRESSED, PREFACE, PREFACE_1_1, frame, u32, okResponse, errorResponse, message,
  windowUpdate, streamEnd, FakeServer, connect, rejectsWith, GATHER, protoDirWithGather,
} = require('./fake_raw_server');

const WALK_TREE = '/dualrpc.v1.FileService/WalkTree';
const ECHO_STREAM = '/dualrpc.v1.FileService/EchoStream';
const WINDOW = 65536;

const contract = loadContract();
const EchoRequest = contract.lookupType('dualrpc.v1.EchoRequest');
const WalkTreeRequest = contract.lookupType('dualrpc.v1.WalkTreeRequest');
const WalkTreeResponse = contract.lookupType('dualrpc.v1.WalkTreeResponse');
const ResponseHeader = contract.lookupType('dualrpc.wire.v1.ResponseHeader');

// EchoRequest and EchoResponse share their encoding.
const echoBytes = (payload) => Buffer.from(EchoRequest.encode({ payload: Buffer.from(payload) }).finish());
const payloadOf = (bytes) => Buffer.from(EchoRequest.decode(bytes).payload).toString();
const cost = (bytes) => 12 + bytes.length;

function walkBatch(paths) {
  return Buffer.from(WalkTreeResponse.encode({
    entries: paths.map((entryPath) => ({
      path: entryPath,
      depth: entryPath.split('/').length,
      entry: { name: entryPath.split('/').pop(), type: 1, sizeBytes: 3 },
    })),
  }).finish());
}

// RESPONSE with status and trailers (ResponseHeader.metadata).
function responseWithTrailers(callId, code, text, trailers, messageBytes = Buffer.alloc(0)) {
  const header = Buffer.from(ResponseHeader.encode({
    statusCode: code, statusMessage: text, metadata: trailers.map(([key, value]) => ({ key, value: Buffer.from(value) })),
  }).finish());
  return frame(T.RESPONSE, END_STREAM, callId, Buffer.concat([u32(header.length), header, messageBytes]));
}

async function streamingPeer(t, options) {
  const server = await FakeServer.start(t, { preface: PREFACE_1_1 });
  const client = connect(t, server, options);
  return { server, client };
}

// The next value of an async iterator, or the RpcError it throws.
async function nextOrError(iterator) {
  try {
    return await iterator.next();
  } catch (error) {
    return { error };
  }
}

function expectRpcError(outcome, codeName) {
  assert.ok(outcome.error instanceof dualrpc.RpcError, `want an RpcError ${codeName}, got ${JSON.stringify(outcome)}`);
  assert.equal(outcome.error.codeName, codeName, outcome.error.message);
  return outcome.error;
}

test('server streaming: one REQUEST with END_STREAM, MESSAGE batches flattened into TreeEntry objects, trailers', async (t) => {
  const { server, client } = await streamingPeer(t);
  const call = client.walkTree({ path: 'docs', maxDepth: 2 }, { metadata: { who: 'test' } });
  assert.ok(call instanceof Readable, 'a Node Readable');
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  assert.equal(request.header.method, WALK_TREE);
  assert.equal(request.flags, END_STREAM, 'the one request travels in the REQUEST');
  assert.deepEqual(WalkTreeRequest.toObject(WalkTreeRequest.decode(request.message)), { path: 'docs', maxDepth: 2 });
  assert.deepEqual(request.header.metadata.map(({ key, value }) => [key, Buffer.from(value).toString()]),
    [['who', 'test']]);

  peer.write(Buffer.concat([
    message(request.callId, walkBatch(['docs/a', 'docs/b'])),
    message(request.callId, walkBatch([])),
    message(request.callId, walkBatch(['docs/c/d'])),
    responseWithTrailers(request.callId, 0, '', [['walked', 'yes']]),
  ]));
  const entries = [];
  for await (const entry of call) entries.push(entry);
  assert.deepEqual(entries.map((entry) => [entry.path, entry.depth, entry.entry.name, entry.entry.type]), [
    ['docs/a', 2, 'a', 'TYPE_FILE'], ['docs/b', 2, 'b', 'TYPE_FILE'], ['docs/c/d', 3, 'd', 'TYPE_FILE']]);
  assert.deepEqual(await call.trailers, { walked: ['yes'] });
  assert.deepEqual(await peer.barrier(), [], 'nothing more sent: no CANCEL after the RESPONSE');
});

test('bidi: REQUEST without END_STREAM and no message, one MESSAGE per write, empty half-close; echoes in order', async (t) => {
  const { server, client } = await streamingPeer(t);
  const call = client.echoStream();
  const responses = call[Symbol.asyncIterator]();
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  assert.equal(request.header.method, ECHO_STREAM);
  assert.equal(request.flags & END_STREAM, 0);
  assert.equal(request.message.length, 0, 'header only');

  for (const payload of ['one', '', 'three']) {
    call.write(payload);
    const sent = await peer.nextOfType(T.MESSAGE);
    assert.equal(sent.callId, request.callId);
    assert.equal(sent.flags, 0);
    assert.equal(payloadOf(sent.payload), payload);
    peer.write(message(request.callId, sent.payload));
    const { value } = await responses.next();
    assert.ok(Buffer.isBuffer(value));
    assert.equal(value.toString(), payload);
  }
  call.end();
  const halfClose = await peer.nextOfType(T.MESSAGE);
  assert.equal(halfClose.flags, END_STREAM);
  assert.equal(halfClose.payload.length, 0);
  peer.write(streamEnd(request.callId));
  assert.equal((await responses.next()).done, true);
});

test('bidi convenience: an async iterable of requests is written, then the call half-closes', async (t) => {
  const { server, client } = await streamingPeer(t);
  async function* payloads() {
    yield 'a';
    yield Buffer.from('b');
  }
  const call = client.echoStream(payloads());
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  const sent = [await peer.nextOfType(T.MESSAGE), await peer.nextOfType(T.MESSAGE), await peer.nextOfType(T.MESSAGE)];
  assert.deepEqual(sent.map((m) => [m.flags, m.flags ? '' : payloadOf(m.payload)]), [[0, 'a'], [0, 'b'], [END_STREAM, '']]);
  peer.write(Buffer.concat([message(request.callId, sent[0].payload), message(request.callId, sent[1].payload),
    streamEnd(request.callId)]));
  const got = [];
  for await (const payload of call) got.push(payload.toString());
  assert.deepEqual(got, ['a', 'b']);
});

test('client streaming: requests from an iterable, half-close, the RESPONSE carries the one response', async (t) => {
  const server = await FakeServer.start(t, { preface: PREFACE_1_1 });
  const client = connect(t, server, { protoDir: protoDirWithGather(t) });
  const response = client.clientStream(GATHER, [{ payload: Buffer.from('x') }, { payload: Buffer.from('y') }]);
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  assert.equal(request.header.method, GATHER);
  assert.equal(request.flags & END_STREAM, 0);
  const sent = [await peer.nextOfType(T.MESSAGE), await peer.nextOfType(T.MESSAGE), await peer.nextOfType(T.MESSAGE)];
  assert.deepEqual(sent.map((m) => m.flags), [0, 0, END_STREAM]);
  peer.write(responseWithTrailers(request.callId, 0, '', [], echoBytes('xy')));
  const got = await response;
  assert.equal(Buffer.from(got.payload).toString(), 'xy');
  // The wrong kind for a method fails locally.
  await rejectsWith(client.clientStream(ECHO_STREAM, []), 'INVALID_ARGUMENT');
  await rejectsWith(client.call(GATHER, {}), 'INVALID_ARGUMENT');
});

test('flow control, sending: MESSAGEs stop while the window is <= 0 and resume on WINDOW_UPDATE; write() backpressure', async (t) => {
  const { server, client } = await streamingPeer(t);
  const call = client.echoStream();
  const payload = 'p'.repeat(8000);
  const frameCost = cost(echoBytes(payload));
  let sawBackpressure = false;
  for (let i = 0; i < 20; ++i) sawBackpressure = !call.write(payload) || sawBackpressure;
  call.end();
  assert.ok(sawBackpressure, 'write() returned false while the window held the requests back');
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);

  // Sent while the window is > 0: the last one takes it below zero.
  const firstBatch = Math.ceil(WINDOW / frameCost);
  let window = WINDOW;
  const sentFirst = await peer.barrier();
  assert.equal(sentFirst.length, firstBatch, `MESSAGEs sent within a window of ${WINDOW}`);
  assert.ok(sentFirst.every((m) => m.type === T.MESSAGE && m.flags === 0 && m.callId === request.callId));
  window -= firstBatch * frameCost;
  assert.ok(window <= 0);
  assert.deepEqual(await peer.barrier(), [], 'nothing more without credit');

  peer.write(windowUpdate(request.callId, 2 * frameCost));
  window += 2 * frameCost;
  let more = 0;
  while (window > 0) {
    window -= frameCost;
    more += 1;
  }
  const sentSecond = await peer.barrier();
  assert.equal(sentSecond.length, more, 'as many as the credit allows');

  peer.write(windowUpdate(request.callId, 1 << 30));
  const rest = await peer.barrier();
  const remaining = 20 - firstBatch - more;
  assert.equal(rest.length, remaining + 1, 'the rest, then the half-close');
  assert.equal(rest[remaining].flags, END_STREAM);
  peer.write(streamEnd(request.callId));
  for await (const ignored of call) assert.fail(`unexpected response ${ignored}`);
});

test('flow control, receiving: WINDOW_UPDATE only as the application reads, once half the window is consumed', async (t) => {
  const { server, client } = await streamingPeer(t);
  const call = client.echoStream();
  const responses = call[Symbol.asyncIterator]();
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  const bytes = echoBytes('r'.repeat(4000));
  const count = 15;  // 15 * 4015 = 60225: within the window.
  peer.write(Buffer.concat(Array.from({ length: count }, () => message(request.callId, bytes))));
  assert.deepEqual(await peer.barrier(), [], 'no credit for messages nobody read');

  const needed = Math.ceil(WINDOW / 2 / cost(bytes));
  for (let i = 0; i < needed - 1; ++i) await responses.next();
  assert.deepEqual(await peer.barrier(), [], `no credit below ${WINDOW / 2} bytes consumed`);
  await responses.next();
  const [update, ...others] = await peer.barrier();
  assert.deepEqual(others, []);
  assert.equal(update.type, T.WINDOW_UPDATE);
  assert.equal(update.callId, request.callId);
  assert.equal(update.payload.readUInt32BE(0), needed * cost(bytes), 'the consumed bytes, frames included');
  call.cancel();
});

test('flow control: a MESSAGE beyond the window fails the call with RESOURCE_EXHAUSTED and CANCEL', async (t) => {
  const { server, client } = await streamingPeer(t);
  const call = client.echoStream();
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  const bytes = echoBytes('w'.repeat(4000));
  const allowed = Math.ceil(WINDOW / cost(bytes));  // The last of these takes the window below zero.
  peer.write(Buffer.concat(Array.from({ length: allowed + 1 }, () => message(request.callId, bytes))));
  const cancel = await peer.nextOfType(T.CANCEL);
  assert.equal(cancel.callId, request.callId);
  let read = 0;
  const outcome = await (async () => {
    try {
      for await (const ignored of call) read += 1;
      return {};
    } catch (error) {
      return { error };
    }
  })();
  assert.match(expectRpcError(outcome, 'RESOURCE_EXHAUSTED').details, /flow control window exceeded/);
  assert.equal(read, allowed, 'the messages within the window were delivered first');
});

test('§7.1: a streaming REQUEST waits for the server preface; unary calls do not', async (t) => {
  const server = await FakeServer.start(t, { preface: null });
  const client = connect(t, server);
  const call = client.echoStream(['early']);
  const unary = client.echo(Buffer.from('u'));
  const peer = await server.peer(0);
  const unaryRequest = await peer.nextOfType(T.REQUEST);
  assert.equal(unaryRequest.header.method, ECHO, 'only the unary REQUEST before the preface');
  assert.equal(peer.unread.length, 0);
  peer.sendPreface(PREFACE_1_1);
  const streamRequest = await peer.nextOfType(T.REQUEST);
  assert.equal(streamRequest.header.method, ECHO_STREAM);
  assert.ok(streamRequest.callId > unaryRequest.callId, 'ids increase in the order REQUESTs leave');
  peer.write(okResponse(unaryRequest.callId, unaryRequest.message));
  assert.equal(String(await unary), 'u');
  call.cancel();
});

test('§7.1: a 1.0 server preface fails streaming calls with UNIMPLEMENTED; unary calls go on on that connection', async (t) => {
  const server = await FakeServer.start(t, { preface: PREFACE });
  const client = connect(t, server);
  const unary = client.echo(Buffer.from('first'));
  const peer = await server.peer(0);
  const first = await peer.nextOfType(T.REQUEST);
  peer.write(okResponse(first.callId, first.message));
  assert.equal(String(await unary), 'first');

  const outcome = await nextOrError(client.walkTree({})[Symbol.asyncIterator]());
  assert.match(expectRpcError(outcome, 'UNIMPLEMENTED').details, /raw protocol 1\.0/);
  const again = client.echo(Buffer.from('again'));
  const second = await peer.nextOfType(T.REQUEST);
  assert.equal(second.header.method, ECHO, 'no streaming frame reached the 1.0 server');
  peer.write(okResponse(second.callId, second.message));
  assert.equal(String(await again), 'again');
  assert.equal(server.peers.length, 1);
});

test('deadline mid-stream: DEADLINE_EXCEEDED after the responses so far, timeout_micros sent, CANCEL follows', async (t) => {
  const { server, client } = await streamingPeer(t);
  const started = performance.now();
  const call = client.echoStream({ deadlineMs: 200 });
  const responses = call[Symbol.asyncIterator]();
  call.write('a');
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  const timeoutMicros = Number(request.header.timeoutMicros);
  assert.ok(timeoutMicros > 0 && timeoutMicros <= 200000, `timeout_micros ${timeoutMicros}`);
  const sent = await peer.nextOfType(T.MESSAGE);
  peer.write(message(request.callId, sent.payload));
  assert.equal(String((await responses.next()).value), 'a');

  const outcome = await nextOrError(responses);
  expectRpcError(outcome, 'DEADLINE_EXCEEDED');
  assert.ok(performance.now() - started >= 195, 'not before the deadline');
  const cancel = await peer.nextOfType(T.CANCEL);
  assert.equal(cancel.callId, request.callId);
  assert.equal(cancel.payload.length, 0);
});

test('cancel(): CANCELLED at once, CANCEL sent, late frames of the call ignored, the connection serves on', async (t) => {
  const { server, client } = await streamingPeer(t);
  const call = client.echoStream();
  const responses = call[Symbol.asyncIterator]();
  call.write('a');
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  const sent = await peer.nextOfType(T.MESSAGE);
  peer.write(message(request.callId, sent.payload));
  await responses.next();
  call.cancel();
  expectRpcError(await nextOrError(responses), 'CANCELLED');
  assert.deepEqual(await call.trailers, {});
  const cancel = await peer.nextOfType(T.CANCEL);
  assert.equal(cancel.callId, request.callId);

  // Crossed the CANCEL: ignored (§4.5, §7.5).
  peer.write(Buffer.concat([message(request.callId, sent.payload), windowUpdate(request.callId, 10),
    streamEnd(request.callId)]));
  const unary = client.echo(Buffer.from('after'));
  const next = await peer.nextOfType(T.REQUEST);
  peer.write(okResponse(next.callId, next.message));
  assert.equal(String(await unary), 'after');
});

test('error after some messages: the iterator yields them, then throws the status with its trailers; no CANCEL', async (t) => {
  const { server, client } = await streamingPeer(t);
  const call = client.walkTree({});
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  peer.write(Buffer.concat([
    message(request.callId, walkBatch(['a'])),
    message(request.callId, walkBatch(['b'])),
    responseWithTrailers(request.callId, 7, 'no more for you', [['reason', 'policy']]),
  ]));
  const seen = [];
  const outcome = await (async () => {
    try {
      for await (const entry of call) seen.push(entry.path);
      return {};
    } catch (error) {
      return { error };
    }
  })();
  const error = expectRpcError(outcome, 'PERMISSION_DENIED');
  assert.equal(error.details, 'no more for you');
  assert.deepEqual(error.metadata, { reason: ['policy'] });
  assert.deepEqual(seen, ['a', 'b']);
  assert.deepEqual(await call.trailers, { reason: ['policy'] });
  assert.deepEqual(await peer.barrier(), [], 'an answered call is not cancelled');
});

test('§7.5 client side: call errors end the call with CANCEL', async (t) => {
  const { server, client } = await streamingPeer(t);
  const unary = client.echo(Buffer.from('u'));
  const walk = client.walkTree({});
  const echo = client.echoStream();
  const compressed = client.echoStream();
  const peer = await server.peer(0);
  const ids = {};
  for (let i = 0; i < 4; ++i) {
    const request = await peer.nextOfType(T.REQUEST);
    const { method } = request.header;
    const name = method === ECHO ? 'unary' : method === WALK_TREE ? 'walk' : ids.echo ? 'compressed' : 'echo';
    ids[name] = request.callId;
  }
  peer.write(Buffer.concat([
    message(ids.unary, echoBytes('x')),  // MESSAGE on a unary call: INTERNAL
    message(ids.walk, Buffer.from([0xff])),  // does not parse as WalkTreeResponse: INTERNAL
    responseWithTrailers(ids.echo, 0, '', [], echoBytes('m')),  // a bidi RESPONSE with a message: INTERNAL
    frame(T.MESSAGE, COMPRESSED, ids.compressed, echoBytes('z')),  // COMPRESSED: UNIMPLEMENTED
  ]));
  await rejectsWith(unary, 'INTERNAL');
  expectRpcError(await nextOrError(walk[Symbol.asyncIterator]()), 'INTERNAL');
  expectRpcError(await nextOrError(echo[Symbol.asyncIterator]()), 'INTERNAL');
  expectRpcError(await nextOrError(compressed[Symbol.asyncIterator]()), 'UNIMPLEMENTED');
  const cancels = (await peer.barrier()).filter((f) => f.type === T.CANCEL).map((f) => f.callId).sort();
  assert.deepEqual(cancels, [ids.unary, ids.walk, ids.compressed].sort(),
    'CANCEL for the calls the server still runs, not for the one it answered');
});

for (const [what, bytes] of [
  ['a half-close MESSAGE from the server', (id) => frame(T.MESSAGE, END_STREAM, id)],
  ['a WINDOW_UPDATE of 0', (id) => windowUpdate(id, 0)],
  ['a WINDOW_UPDATE with the high bit set', (id) => windowUpdate(id, 0x80000000)],
  ['a WINDOW_UPDATE of 3 bytes', (id) => frame(T.WINDOW_UPDATE, 0, id, Buffer.alloc(3, 1))],
  ['a WINDOW_UPDATE taking the window above 2^31-1', (id) => windowUpdate(id, 0x7fffffff)],
  ['a MESSAGE for a call never opened', (id) => message(id + 1, echoBytes('x'))],
  ['a MESSAGE with call id 0', () => message(0, echoBytes('x'))],
]) {
  test(`§7.5: ${what} is a connection error: GOAWAY INTERNAL, calls fail UNAVAILABLE`, async (t) => {
    const { server, client } = await streamingPeer(t);
    const call = client.echoStream();
    const peer = await server.peer(0);
    const request = await peer.nextOfType(T.REQUEST);
    peer.write(bytes(request.callId));
    expectRpcError(await nextOrError(call[Symbol.asyncIterator]()), 'UNAVAILABLE');
    const away = await peer.nextOfType(T.GOAWAY);
    assert.equal(away.payload[4], 0x08, 'ResponseHeader.status_code');
    assert.equal(away.payload[5], 13);
    await peer.ended;
  });
}

test('local failures are the call\'s error: unknown method, wrong kind, bad request, oversized request', async (t) => {
  const { server, client } = await streamingPeer(t, { maxMessageBytes: 1024 });
  expectRpcError(await nextOrError(client.serverStream('/dualrpc.v1.FileService/Nope', {})[Symbol.asyncIterator]()),
    'UNIMPLEMENTED');
  expectRpcError(await nextOrError(client.serverStream(ECHO, {})[Symbol.asyncIterator]()), 'INVALID_ARGUMENT');
  expectRpcError(await nextOrError(client.walkTree({ depth: 1 })[Symbol.asyncIterator]()), 'INVALID_ARGUMENT');
  expectRpcError(await nextOrError(client.echoStream({ deadlineMs: 0 })[Symbol.asyncIterator]()), 'DEADLINE_EXCEEDED');
  assert.equal(server.peers.length, 0, 'nothing was sent');

  // A request over the limit ends an open call: RESOURCE_EXHAUSTED, CANCEL.
  const call = client.echoStream(['small', 'x'.repeat(2000)]);
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  await peer.nextOfType(T.MESSAGE);
  const cancel = await peer.nextOfType(T.CANCEL);
  assert.equal(cancel.callId, request.callId);
  expectRpcError(await nextOrError(call[Symbol.asyncIterator]()), 'RESOURCE_EXHAUSTED');
});

test('MESSAGE over the message limit: RESOURCE_EXHAUSTED and CANCEL for that call; over the frame limit, skipped unbuffered', async (t) => {
  // Message limit 1024, so the frame limit is 1024 + 16384 + 4.
  const { server, client } = await streamingPeer(t, { maxMessageBytes: 1024 });
  const overMessage = client.echoStream();
  const overFrame = client.echoStream();
  const fine = client.echoStream();
  const peer = await server.peer(0);
  const ids = [];
  for (let i = 0; i < 3; ++i) ids.push((await peer.nextOfType(T.REQUEST)).callId);
  peer.write(message(ids[0], echoBytes('m'.repeat(1100))));
  const declared = 1024 + 16384 + 5;
  const header = message(ids[1], Buffer.alloc(0));
  header.writeUInt32BE(declared, 0);
  peer.write(header);
  expectRpcError(await nextOrError(overMessage[Symbol.asyncIterator]()), 'RESOURCE_EXHAUSTED');
  // The header alone fails the call: its payload has not been sent yet.
  expectRpcError(await nextOrError(overFrame[Symbol.asyncIterator]()), 'RESOURCE_EXHAUSTED');
  const cancels = [await peer.nextOfType(T.CANCEL), await peer.nextOfType(T.CANCEL)].map((f) => f.callId);
  assert.deepEqual(cancels, ids.slice(0, 2));
  peer.write(Buffer.concat([Buffer.alloc(declared), message(ids[2], echoBytes('ok')), streamEnd(ids[2])]));
  const responses = [];
  for await (const payload of fine) responses.push(String(payload));
  assert.deepEqual(responses, ['ok'], 'the connection stayed in sync');
});

test('a failing request iterable ends the call with its error and CANCEL', async (t) => {
  const { server, client } = await streamingPeer(t);
  let fail;
  const failNow = new Promise((resolve) => {
    fail = resolve;
  });
  async function* broken() {
    yield 'a';
    await failNow;
    throw new Error('disk on fire');
  }
  const call = client.echoStream(broken());
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  await peer.nextOfType(T.MESSAGE);
  fail();
  const cancel = await peer.nextOfType(T.CANCEL);
  assert.equal(cancel.callId, request.callId);
  assert.match(expectRpcError(await nextOrError(call[Symbol.asyncIterator]()), 'CANCELLED').details, /disk on fire/);
});

test('close(): streaming calls fail with CANCELLED', async (t) => {
  const { server, client } = await streamingPeer(t);
  const call = client.echoStream();
  const peer = await server.peer(0);
  await peer.nextOfType(T.REQUEST);
  client.close();
  expectRpcError(await nextOrError(call[Symbol.asyncIterator]()), 'CANCELLED');
  expectRpcError(await nextOrError(client.walkTree({})[Symbol.asyncIterator]()), 'CANCELLED');
});
