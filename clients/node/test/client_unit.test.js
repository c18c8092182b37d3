'use strict';
// Raw-protocol behaviour of the Node client against a tiny fake server
// in test/fake_raw_server.js (net.createServer speaking the preface, frames encoded and
// parsed by hand from docs/PROTOCOL.md, not with the client's codec), plus
// the FrameDecoder on its own. Run: node --test test/

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');

const dualrpc = require('..');
const { FrameDecoder } = require('../lib/frame_decoder');
const { parseTarget } = require('../lib/target');

const {
  ECHO, T, END_STREAM, ACK, PREFACE, frame, u32, okResponse, errorResponse, goaway, FakeServer, connect, rejectsWith,
} = require('./fake_raw_server');

// --- FrameDecoder --------------------------------------------------------------

test('decoder: preface and frames fed one byte at a time', () => {
  const bytes = Buffer.concat([PREFACE, okResponse(1, Buffer.from('abc')), frame(T.PING, 0, 0, Buffer.alloc(8, 7))]);
  const decoder = new FrameDecoder({ maxPayloadBytes: 1024 });
  const events = [];
  for (const byte of bytes) events.push(...decoder.push(Buffer.from([byte])));
  assert.deepEqual(events.map((event) => event.kind), ['preface', 'frame', 'frame']);
  assert.equal(events[1].callId, 1);
  assert.deepEqual(events[1].payload, Buffer.concat([u32(0), Buffer.from('abc')]));
  assert.equal(events[2].type, T.PING);
  assert.equal(decoder.bufferedBytes, 0);
});

test('decoder: many frames in one chunk; oversized payload skipped unbuffered', () => {
  const big = frame(T.RESPONSE, END_STREAM, 2, Buffer.alloc(5000, 1));
  const bytes = Buffer.concat([PREFACE, okResponse(1, Buffer.from('a')), big, okResponse(3, Buffer.from('c'))]);
  const decoder = new FrameDecoder({ maxPayloadBytes: 100 });
  const events = decoder.push(bytes.subarray(0, 8 + 17 + 12 + 10));
  assert.deepEqual(events.map((event) => event.kind), ['preface', 'frame', 'oversized']);
  assert.equal(events[2].length, 5000);
  assert.equal(decoder.bufferedBytes, 0, 'skipped bytes are not kept');
  const rest = decoder.push(bytes.subarray(8 + 17 + 12 + 10));
  assert.deepEqual(rest.map((event) => [event.kind, event.callId]), [['frame', 3]]);
});

test('decoder: wrong magic is an error', () => {
  const events = new FrameDecoder({ maxPayloadBytes: 100 }).push(Buffer.from('HTTP/1.1 400'));
  assert.equal(events.length, 1);
  assert.equal(events[0].kind, 'error');
});

// --- the client against the fake server -----------------------------------------

test('frames split across chunks (inside a header, inside a payload); PING answered with ACK', async (t) => {
  const server = await FakeServer.start(t);
  const client = connect(t, server);
  const replies = ['split in the header', 'split in the payload'].map((text) => client.echo(Buffer.from(text)));
  const peer = await server.peer(0);
  const requests = [await peer.nextOfType(T.REQUEST), await peer.nextOfType(T.REQUEST)];
  assert.equal(requests[0].header.method, ECHO);
  assert.equal(requests[0].flags & END_STREAM, END_STREAM);
  const [first, second] = requests.map((request) => okResponse(request.callId, request.message));
  const ping = (byte) => frame(T.PING, 0, 0, Buffer.alloc(8, byte));
  const expectAck = async (byte) => {
    const ack = await peer.nextOfType(T.PING);
    assert.equal(ack.flags, ACK);
    assert.equal(ack.callId, 0);
    assert.deepEqual(ack.payload, Buffer.alloc(8, byte));
  };

  // The client ACKs a PING only after reading the chunk it came in, so the
  // bytes sent after an ACK cannot share a chunk with those sent before it.
  peer.write(Buffer.concat([ping(1), first.subarray(0, 5)]));
  await expectAck(1);
  peer.write(Buffer.concat([first.subarray(5), ping(2), second.subarray(0, 20)]));
  await expectAck(2);
  assert.equal((await replies[0]).toString(), 'split in the header');
  peer.write(second.subarray(20));
  assert.equal((await replies[1]).toString(), 'split in the payload');
});

test('concurrent calls on one connection, answered out of order in one chunk', async (t) => {
  const server = await FakeServer.start(t);
  const client = connect(t, server);
  const payloads = ['first', 'second', 'third', 'fourth'];
  const replies = payloads.map((payload) => client.echo(Buffer.from(payload)));
  const peer = await server.peer(0);
  const requests = [];
  for (let i = 0; i < payloads.length; ++i) requests.push(await peer.nextOfType(T.REQUEST));
  const ids = requests.map((request) => request.callId);
  assert.ok(ids[0] > 0);
  ids.slice(1).forEach((id, i) => assert.ok(id > ids[i], `call ids ${ids} must increase`));

  peer.write(Buffer.concat(requests.reverse().map((request) => okResponse(request.callId, request.message))));
  assert.deepEqual((await Promise.all(replies)).map(String), payloads);
  assert.equal(server.peers.length, 1);
});

test('deadline: DEADLINE_EXCEEDED locally, timeout_micros sent, CANCEL follows, late response ignored', async (t) => {
  const server = await FakeServer.start(t);
  const client = connect(t, server);
  const started = performance.now();
  // Expectations go on the promise at once: it may reject before the fake
  // server has even read the request.
  const expired = rejectsWith(client.echo(Buffer.from('slow'), { deadlineMs: 50 }), 'DEADLINE_EXCEEDED')
    .then((error) => ({ error, elapsedMs: performance.now() - started }));
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  const timeoutMicros = Number(request.header.timeoutMicros);
  assert.ok(timeoutMicros > 0 && timeoutMicros <= 50000, `timeout_micros ${timeoutMicros}`);

  const { error, elapsedMs } = await expired;
  assert.ok(elapsedMs >= 45, `failed after ${elapsedMs} ms, before the deadline`);
  assert.match(error.details, /deadline/);
  const cancel = await peer.nextOfType(T.CANCEL);
  assert.equal(cancel.callId, request.callId);
  assert.equal(cancel.payload.length, 0);

  // A RESPONSE already on its way is ignored; the connection stays usable.
  peer.write(okResponse(request.callId, request.message));
  const next = client.echo(Buffer.from('next'));
  const nextRequest = await peer.nextOfType(T.REQUEST);
  assert.ok(nextRequest.callId > request.callId);
  assert.equal(Number(nextRequest.header.timeoutMicros), 0, 'no deadline: no timeout_micros');
  peer.write(okResponse(nextRequest.callId, nextRequest.message));
  assert.equal((await next).toString(), 'next');
});

test('GOAWAY: later ids fail UNAVAILABLE, earlier ones are answered, new calls reconnect', async (t) => {
  const server = await FakeServer.start(t);
  const client = connect(t, server);
  const replies = ['a', 'b', 'c'].map((payload) => client.echo(Buffer.from(payload)));
  const first = await server.peer(0);
  const requests = [];
  for (let i = 0; i < 3; ++i) requests.push(await first.nextOfType(T.REQUEST));

  first.write(goaway(requests[1].callId, 14, 'server is shutting down'));
  const notRun = await rejectsWith(replies[2], 'UNAVAILABLE');
  assert.match(notRun.details, /going away/);

  // No new call goes to the connection that received GOAWAY.
  const later = client.echo(Buffer.from('later'));
  const second = await server.peer(1);
  const laterRequest = await second.nextOfType(T.REQUEST);
  second.write(okResponse(laterRequest.callId, laterRequest.message));
  assert.equal((await later).toString(), 'later');

  first.write(Buffer.concat(requests.slice(0, 2).map((request) => okResponse(request.callId, request.message))));
  assert.deepEqual((await Promise.all(replies.slice(0, 2))).map(String), ['a', 'b']);
  // Drained: the client closes it, having sent nothing more on it.
  await first.ended;
  assert.equal(first.unread.length, 0);
});

test('two-phase drain: the notice fails nothing and its PING is answered; the second GOAWAY fails the calls above it', async (t) => {
  const server = await FakeServer.start(t);
  const client = connect(t, server);
  const replies = ['a', 'b'].map((payload) => client.echo(Buffer.from(payload)));
  const first = await server.peer(0);
  const requests = [];
  for (let i = 0; i < 2; ++i) requests.push(await first.nextOfType(T.REQUEST));

  // §5.3 step 1: GOAWAY last_call_id 0xFFFFFFFF, then PING "DRAINING".
  const draining = Buffer.from('DRAINING');
  first.write(Buffer.concat([goaway(0xffffffff, 14, 'server is shutting down'),
                             frame(T.PING, 0, 0, draining)]));
  const ack = await first.nextOfType(T.PING);
  assert.equal(ack.flags, ACK);
  assert.deepEqual(ack.payload, draining);
  // New calls go elsewhere already.
  const later = client.echo(Buffer.from('later'));
  const second = await server.peer(1);
  const laterRequest = await second.nextOfType(T.REQUEST);
  second.write(okResponse(laterRequest.callId, laterRequest.message));
  assert.equal((await later).toString(), 'later');

  // Step 2: the real last id; b was not read.
  first.write(goaway(requests[0].callId, 14, 'server is shutting down'));
  const notRun = await rejectsWith(replies[1], 'UNAVAILABLE');
  assert.match(notRun.details, /going away/);
  first.write(okResponse(requests[0].callId, requests[0].message));
  assert.equal((await replies[0]).toString(), 'a');
  await first.ended;
});

test('GOAWAY with an error status fails every call at once', async (t) => {
  const server = await FakeServer.start(t);
  const client = connect(t, server);
  const reply = client.echo(Buffer.from('x'));
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  peer.write(goaway(request.callId, 13, 'call ids must increase'));
  const error = await rejectsWith(reply, 'UNAVAILABLE');
  assert.match(error.details, /INTERNAL: call ids must increase/);
});

test('connection loss: waiting calls fail UNAVAILABLE, the next call reconnects', async (t) => {
  const server = await FakeServer.start(t);
  const client = connect(t, server);
  const reply = client.echo(Buffer.from('lost'));
  const first = await server.peer(0);
  await first.nextOfType(T.REQUEST);
  first.socket.destroy();
  await rejectsWith(reply, 'UNAVAILABLE');

  const again = client.echo(Buffer.from('again'));
  const second = await server.peer(1);
  const request = await second.nextOfType(T.REQUEST);
  second.write(okResponse(request.callId, request.message));
  assert.equal((await again).toString(), 'again');
});

test('targets: every form parses as the C++ client reads it', () => {
  const cases = {
    'grpc://h:1': ['grpc', false, 'h', 1, '', 'h:1'],
    '127.0.0.1:50051': ['grpc', false, '127.0.0.1', 50051, '', '127.0.0.1:50051'],
    '[::1]:50051': ['grpc', false, '::1', 50051, '', '[::1]:50051'],
    'raw://[::1]:2': ['raw', false, '::1', 2, '', '[::1]:2'],
    'raw://h:3/': ['raw', false, 'h', 3, '', 'h:3'],
    'grpcs://h:4': ['grpc', true, 'h', 4, '', 'h:4'],
    'raws://[::1]:5/': ['raw', true, '::1', 5, '', '[::1]:5'],
    'unix:///run/d.sock': ['grpc', false, '', 0, '/run/d.sock', 'unix:///run/d.sock'],
    'unix:/run/d.sock': ['grpc', false, '', 0, '/run/d.sock', 'unix:///run/d.sock'],
    'unix:d.sock': ['grpc', false, '', 0, 'd.sock', 'unix:d.sock'],
    'raw+unix:///run/d.sock': ['raw', false, '', 0, '/run/d.sock', 'unix:///run/d.sock'],
    'raw+unix:d.sock': ['raw', false, '', 0, 'd.sock', 'unix:d.sock'],
  };
  for (const [text, want] of Object.entries(cases)) {
    const { scheme, tls, host, port, path: socketPath, hostPort } = parseTarget(text);
    assert.deepEqual([scheme, tls, host, port, socketPath, hostPort], want, text);
  }
});

test('targets: lists and dns:/// (issue 13 D1): addresses, DNS name, what grpc-js is given', () => {
  const cases = {
    'grpc://127.0.0.1:1,127.0.0.2:2': ['grpc', false, ['127.0.0.1:1', '127.0.0.2:2'], null, 'ipv4:127.0.0.1:1,127.0.0.2:2'],
    '127.0.0.1:1,127.0.0.1:1': ['grpc', false, ['127.0.0.1:1', '127.0.0.1:1'], null, 'ipv4:127.0.0.1:1,127.0.0.1:1'],
    'grpcs://[::1]:1,[::2]:2/': ['grpc', true, ['[::1]:1', '[::2]:2'], null, 'ipv6:[::1]:1,[::2]:2'],
    'raw://a:1,10.0.0.1:2,[::1]:3': ['raw', false, ['a:1', '10.0.0.1:2', '[::1]:3'], null, null],
    'raws://a:1,b:2': ['raw', true, ['a:1', 'b:2'], null, null],
    'raw://a:1': ['raw', false, ['a:1'], null, 'a:1'],
    'dns:///svc.example:50051': ['grpc', false, [], 'svc.example', 'dns:///svc.example:50051'],
    'grpcs+dns:///svc:1': ['grpc', true, [], 'svc', 'dns:///svc:1'],
    'raw+dns:///svc:2': ['raw', false, [], 'svc', 'dns:///svc:2'],
    'raws+dns:///svc:3': ['raw', true, [], 'svc', 'dns:///svc:3'],
  };
  for (const [text, want] of Object.entries(cases)) {
    const { scheme, tls, addresses, dnsName, hostPort } = parseTarget(text);
    assert.deepEqual([scheme, tls, addresses.map((address) => address.hostPort), dnsName, hostPort], want, text);
  }
  // The first address is the one a TLS certificate is checked against.
  assert.deepEqual([parseTarget('raws://b:1,a:2').host, parseTarget('raws+dns:///svc:3').host], ['b', 'svc']);
  const sixtyFour = Array.from({ length: 64 }, (unused, i) => `h${i}:1`).join(',');
  assert.equal(parseTarget(`raw://${sixtyFour}`).addresses.length, 64);
});

test('targets: bad lists and DNS forms are refused with D1\'s reasons', () => {
  const cases = {
    'a:1,b:2': 'a list of addresses on grpc:// must be IP literals of one family; use dns:///NAME:PORT',
    'grpc://127.0.0.1:1,h:2': 'a list of addresses on grpc:// must be IP literals of one family',
    'grpcs://127.0.0.1:1,[::1]:2': 'a list of addresses on grpc:// must be IP literals of one family',
    'raw://a:1,,b:2': 'empty address in the list',
    'raw://a:1,': 'empty address in the list',
    ',a:1': 'empty address in the list',
    [`raw://${Array.from({ length: 65 }, (unused, i) => `h${i}:1`).join(',')}`]: 'more than 64 addresses',
    'raw://a:1,b': 'not HOST:PORT',
    'dns://8.8.8.8/x:1': 'DNS server authority is not supported',
    'raw+dns://8.8.8.8:53/x:1': 'DNS server authority is not supported',
    'dns://x:1': 'want dns:///NAME:PORT',
    'dns:///x': 'not HOST:PORT',
    'dns:///a:1,b:2': 'not HOST:PORT',
    'raw+dns:///x:1/': 'not HOST:PORT',
    'grpc+dns:///x:1': 'unsupported scheme',
    'dns+raw:///x:1': 'unsupported scheme',
    'unix+dns:///x:1': 'unsupported scheme',
  };
  for (const [text, why] of Object.entries(cases)) {
    assert.throws(() => dualrpc.connect(text), (error) => error instanceof TypeError && error.message.includes(why)
      && error.message.includes('raw+dns:///NAME:PORT'), text);
  }
});

test('targets: refusals are TypeErrors naming the accepted forms', () => {
  for (const text of ['', 'garbage', '127.0.0.1', 'h:0', 'h:65536', 'http://h:1', 'raw://h',
    'raw://:1', 'grpc://[]:1', 'raw+h:1', 'raw+grpc://h:1', 'unix:', 'unix://host/s',
    'raw+unix:', 'raw+unix://host/s', `unix:///${'x'.repeat(200)}`, 'raws+unix:///s', 'grpcss://h:1',
    'https://h:1', 'raws://h', 42]) {
    assert.throws(() => dualrpc.connect(text), (error) => error instanceof TypeError
      && error.message.includes('raw+unix:///PATH') && error.message.includes('raws://HOST:PORT'),
    String(text));
  }
});

test('raw over a unix socket: calls are answered as over TCP', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dualrpc-node-unix-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const server = await FakeServer.start(t, { unixPath: path.join(dir, 'raw.sock') });
  const client = connect(t, server);
  const reply = client.echo(Buffer.from('over unix'));
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  peer.write(okResponse(request.callId, request.message));
  assert.equal(String(await reply), 'over unix');
});

test('a server that is not there: UNAVAILABLE', async (t) => {
  const server = await FakeServer.start(t);
  const target = server.target;
  server.close();
  const client = dualrpc.connect(target);
  t.after(() => client.close());
  await rejectsWith(client.echo(Buffer.from('x')), 'UNAVAILABLE');
});

test('wrong server preface: UNAVAILABLE', async (t) => {
  const server = await FakeServer.start(t, { preface: Buffer.from('HTTP/1.1') });
  const client = connect(t, server);
  const error = await rejectsWith(client.echo(Buffer.from('x')), 'UNAVAILABLE');
  assert.match(error.details, /magic/);
});

test('oversized RESPONSE frame: RESOURCE_EXHAUSTED for that call only, checked before buffering', async (t) => {
  const server = await FakeServer.start(t);
  // Frame limit = 1024 + 16384 + 4 bytes.
  const client = connect(t, server, { maxMessageBytes: 1024 });
  const tooBig = client.echo(Buffer.from('big'));
  const fine = client.echo(Buffer.from('fine'));
  const peer = await server.peer(0);
  const bigRequest = await peer.nextOfType(T.REQUEST);
  const fineRequest = await peer.nextOfType(T.REQUEST);
  const declared = 1024 + 16384 + 5;
  const header = frame(T.RESPONSE, END_STREAM, bigRequest.callId).subarray(0, 12);
  header.writeUInt32BE(declared, 0);
  // The header alone fails the call: the payload has not been sent yet.
  peer.write(header);
  await rejectsWith(tooBig, 'RESOURCE_EXHAUSTED');
  peer.write(Buffer.concat([Buffer.alloc(declared), okResponse(fineRequest.callId, fineRequest.message)]));
  assert.equal((await fine).toString(), 'fine');
});

test('request over the message limit: RESOURCE_EXHAUSTED locally, nothing sent', async (t) => {
  const server = await FakeServer.start(t);
  const client = connect(t, server, { maxMessageBytes: 1024 });
  await rejectsWith(client.echo(Buffer.alloc(2000)), 'RESOURCE_EXHAUSTED');
  const reply = client.echo(Buffer.from('small'));
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  assert.equal(request.message.toString('latin1'), '\n\x05small', 'the first frame is the small call');
  peer.write(okResponse(request.callId, request.message));
  assert.equal((await reply).toString(), 'small');
});

test('error statuses map to RpcError; codes outside 0..16 become UNKNOWN', async (t) => {
  const server = await FakeServer.start(t);
  const client = connect(t, server);
  const missing = rejectsWith(client.listDirectory({ path: 'nope' }), 'NOT_FOUND');
  const odd = rejectsWith(client.echo(Buffer.from('x')), 'UNKNOWN');
  const peer = await server.peer(0);
  const listRequest = await peer.nextOfType(T.REQUEST);
  const echoRequest = await peer.nextOfType(T.REQUEST);
  assert.equal(listRequest.header.method, '/dualrpc.v1.FileService/ListDirectory');
  peer.write(Buffer.concat([
    errorResponse(listRequest.callId, 5, 'no such directory: "nope"'),
    errorResponse(echoRequest.callId, 99, 'from the future'),
  ]));
  const notFound = await missing;
  assert.equal(notFound.details, 'no such directory: "nope"');
  assert.equal(notFound.message, 'NOT_FOUND: no such directory: "nope"');
  await odd;
});

test('metadata travels in the RequestHeader; invalid metadata fails locally', async (t) => {
  const server = await FakeServer.start(t);
  const client = connect(t, server);
  await rejectsWith(client.echo(Buffer.from('x'), { metadata: { 'Bad Key': 'v' } }), 'INVALID_ARGUMENT');
  await rejectsWith(client.echo(Buffer.from('x'), { metadata: { 'grpc-timeout': '1S' } }), 'INVALID_ARGUMENT');
  await rejectsWith(client.echo(Buffer.from('x'), { metadata: { text: 'tab\there' } }), 'INVALID_ARGUMENT');
  const reply = client.echo(Buffer.from('x'), {
    metadata: { authorization: 'Bearer t0ken', 'trace-bin': Buffer.from([0, 255]), multi: ['1', '2'] },
  });
  const peer = await server.peer(0);
  const request = await peer.nextOfType(T.REQUEST);
  assert.deepEqual(request.header.metadata.map(({ key, value }) => [key, Buffer.from(value).toString('hex')]), [
    ['authorization', Buffer.from('Bearer t0ken').toString('hex')],
    ['trace-bin', '00ff'],
    ['multi', '31'],
    ['multi', '32'],
  ]);
  peer.write(okResponse(request.callId, request.message));
  await reply;
});

for (const [what, bytes, code] of [
  ['an unknown frame type', frame(0x7f, 0, 0), 12],
  ['a REQUEST from the server', frame(T.REQUEST, END_STREAM, 1, u32(0)), 13],
  ['a PING of the wrong size', frame(T.PING, 0, 0, Buffer.alloc(7)), 13],
  ['a RESPONSE with call id 0', frame(T.RESPONSE, END_STREAM, 0, u32(0)), 13],
]) {
  test(`${what} is a connection error: GOAWAY with status ${code}, calls fail UNAVAILABLE`, async (t) => {
    const server = await FakeServer.start(t);
    const client = connect(t, server);
    const reply = client.echo(Buffer.from('x'));
    const peer = await server.peer(0);
    await peer.nextOfType(T.REQUEST);
    peer.write(bytes);
    await rejectsWith(reply, 'UNAVAILABLE');
    const away = await peer.nextOfType(T.GOAWAY);
    assert.equal(away.callId, 0);
    assert.equal(away.payload[4], 0x08, 'ResponseHeader.status_code');
    assert.equal(away.payload[5], code);
    await peer.ended;
  });
}

test('close(): calls in flight and later calls fail with CANCELLED', async (t) => {
  const server = await FakeServer.start(t);
  const client = connect(t, server);
  const reply = client.echo(Buffer.from('x'));
  const peer = await server.peer(0);
  await peer.nextOfType(T.REQUEST);
  client.close();
  await rejectsWith(reply, 'CANCELLED');
  await rejectsWith(client.echo(Buffer.from('y')), 'CANCELLED');
  await peer.ended;
});

test('local failures send nothing: deadlineMs <= 0, unknown methods, misspelt fields', async (t) => {
  const server = await FakeServer.start(t);
  const client = connect(t, server);
  await rejectsWith(client.echo(Buffer.from('x'), { deadlineMs: 0 }), 'DEADLINE_EXCEEDED');
  await rejectsWith(client.call('/dualrpc.v1.FileService/Nope', {}), 'UNIMPLEMENTED');
  await rejectsWith(client.call('not a path', {}), 'UNIMPLEMENTED');
  await rejectsWith(client.listDirectory({ page_size: 1 }), 'INVALID_ARGUMENT');
  assert.equal(server.peers.length, 0, 'no connection was opened');
});
