'use strict';
// Raw client-side balancing (lib/raw_balancer.js, issue 13's D2) against
// scripted fake servers (test/fake_raw_server.js), where a test decides
// when a server sends its preface, a GOAWAY or nothing at all: the cases a
// real server makes a matter of timing. The backoff's arithmetic on its own.

const assert = require('node:assert/strict');
const { test } = require('node:test');

const dualrpc = require('..');
const { Backoff, DEFAULT_BACKOFF } = require('../lib/raw_balancer');
const {
  T, ACK, END_STREAM, PREFACE, PREFACE_1_1, frame, okResponse, streamEnd, goaway, FakeServer, rejectsWith,
} = require('./fake_raw_server');

// A raw list target over fake servers.
function connectList(t, servers, options = {}) {
  const target = `raw://${servers.map((server) => server.target.slice('raw://'.length)).join(',')}`;
  const client = dualrpc.connect(target, { deadlineMs: 10000, ...options });
  t.after(() => client.close());
  return client;
}

test('backoff: gRPC connection backoff (1 s, x1.6, +-20 %, at most 120 s), reset to the start', () => {
  const middle = new Backoff(DEFAULT_BACKOFF, () => 0.5);
  const delays = Array.from({ length: 12 }, () => Math.round(middle.next()));
  assert.deepEqual(delays, [1000, 1600, 2560, 4096, 6554, 10486, 16777, 26844, 42950, 68719, 109951, 120000]);
  middle.reset();
  assert.equal(middle.next(), 1000);
  assert.equal(new Backoff(DEFAULT_BACKOFF, () => 0).next(), 800);
  assert.equal(new Backoff(DEFAULT_BACKOFF, () => 1).next(), 1200);
});

test('a unary call a GOAWAY says was not run is sent again on another backend', async (t) => {
  const first = await FakeServer.start(t);
  // The second backend comes up only when the test says: the call cannot
  // have gone there first.
  const second = await FakeServer.start(t, { preface: null });
  const client = connectList(t, [first, second]);
  const reply = client.echo(Buffer.from('again'));
  const firstPeer = await first.peer(0);
  const sent = await firstPeer.nextOfType(T.REQUEST);
  firstPeer.write(goaway(sent.callId - 1, 14, 'draining'));
  const secondPeer = await second.peer(0);
  secondPeer.sendPreface(PREFACE);
  const resent = await secondPeer.nextOfType(T.REQUEST);
  assert.equal(resent.header.method, sent.header.method);
  assert.deepEqual(resent.message, sent.message);
  assert.ok(Number(resent.header.timeoutMicros) <= Number(sent.header.timeoutMicros), 'the deadline left, not anew');
  secondPeer.write(okResponse(resent.callId, resent.message));
  assert.equal(String(await reply), 'again');
  // The backend that went away takes no new call.
  const later = client.echo(Buffer.from('later'));
  const laterRequest = await secondPeer.nextOfType(T.REQUEST);
  secondPeer.write(okResponse(laterRequest.callId, laterRequest.message));
  assert.equal(String(await later), 'later');
  assert.equal(first.peers.length, 1);
});

test('a streaming call a GOAWAY says was not run starts again on another backend, request and all', async (t) => {
  const first = await FakeServer.start(t, { preface: PREFACE_1_1 });
  const second = await FakeServer.start(t, { preface: null });
  const client = connectList(t, [first, second]);
  const call = client.walkTree({ path: 'docs', maxDepth: 2 });
  const entries = (async () => {
    const seen = [];
    for await (const entry of call) seen.push(entry);
    return seen;
  })();
  const firstPeer = await first.peer(0);
  const sent = await firstPeer.nextOfType(T.REQUEST);
  assert.equal(sent.flags & END_STREAM, END_STREAM);
  firstPeer.write(goaway(0, 14, 'draining'));
  const secondPeer = await second.peer(0);
  secondPeer.sendPreface(PREFACE_1_1);
  const resent = await secondPeer.nextOfType(T.REQUEST);
  assert.deepEqual(resent.message, sent.message);
  secondPeer.write(streamEnd(resent.callId));
  assert.deepEqual(await entries, []);
});

test('a call sent on a connection that then fails is not sent again: UNAVAILABLE', async (t) => {
  const first = await FakeServer.start(t);
  const second = await FakeServer.start(t, { preface: null });
  const client = connectList(t, [first, second]);
  const reply = client.echo(Buffer.from('once'));
  const firstPeer = await first.peer(0);
  await firstPeer.nextOfType(T.REQUEST);
  firstPeer.socket.destroy();
  const error = await rejectsWith(reply, 'UNAVAILABLE');
  assert.doesNotMatch(error.details, /no raw backend/);
  const secondPeer = await second.peer(0);
  secondPeer.sendPreface(PREFACE);
  // Everything the client sent the second backend by a round trip: no REQUEST.
  assert.deepEqual((await secondPeer.barrier()).map((received) => received.type), []);
});

// Reads `peer`'s frames until `done()` holds after one: answers each PING
// (then onPing()) and echoes each unary REQUEST (then onRequest()).
async function serve(peer, done, onPing = () => {}, onRequest = () => {}) {
  while (!done()) {
    const received = await peer.next();
    if (received.type === T.PING) {
      assert.equal(received.flags, 0);
      peer.write(frame(T.PING, ACK, 0, received.payload));
      onPing();
    } else {
      assert.equal(received.type, T.REQUEST);
      peer.write(okResponse(received.callId, received.message));
      onRequest();
    }
  }
}

test('health check: an idle connection is PINGed; no PONG in time closes it and ejects the backend', async (t) => {
  const first = await FakeServer.start(t);
  const second = await FakeServer.start(t);
  const client = connectList(t, [first, second], { healthCheckIntervalMs: 50, healthCheckTimeoutMs: 100 });
  // Both connect on the first call (which goes to whichever is up first).
  const firstCall = client.echo(Buffer.from('a'));
  const peers = [await first.peer(0), await second.peer(0)];
  // The first answers its PINGs (at least twice); the second answers
  // requests but no PING: closed by the client.
  let pings = 0;
  let secondClosed = false;
  peers[1].ended.then(() => {
    secondClosed = true;
  });
  const secondPinged = (async () => {
    for (let received = await peers[1].next(); received.type !== T.PING; received = await peers[1].next()) {
      peers[1].write(okResponse(received.callId, received.message));
    }
  })();
  await serve(peers[0], () => secondClosed && pings >= 2, () => {
    pings += 1;
  });
  await secondPinged;
  assert.equal(String(await firstCall), 'a');
  const later = [client.echo(Buffer.from('c')), client.echo(Buffer.from('d'))];
  let answered = 0;
  await serve(peers[0], () => answered === 2, () => {}, () => {
    answered += 1;
  });
  assert.deepEqual((await Promise.all(later)).map(String), ['c', 'd']);
  assert.equal(first.peers.length, 1, 'the healthy connection was kept');
});

test('a backend that accepts and sends no preface is not picked; connectTimeoutMs ejects it', async (t) => {
  const silent = await FakeServer.start(t, { preface: null });
  const client = connectList(t, [silent, silent], { connectTimeoutMs: 100 });
  const error = await rejectsWith(client.echo(Buffer.from('x')), 'UNAVAILABLE');
  assert.match(error.details, new RegExp('^no raw backend is available \\(2 ejected\\): '
    + 'cannot connect to 127\\.0\\.0\\.1:\\d+ within 100 ms \\(TCP connect and server preface\\)$'));
  const peer = await silent.peer(0);
  assert.deepEqual(peer.unread.filter((received) => received.type === T.REQUEST), []);
});

test('balancing options: bad values are TypeErrors naming the option, on any target', () => {
  const cases = {
    healthCheckIntervalMs: 0,
    healthCheckTimeoutMs: -1,
    backoffInitialMs: 'soon',
    backoffMultiplier: 0.5,
    backoffJitter: 1,
    backoffMaxMs: NaN,
    dnsRefreshMs: 0,
  };
  for (const [name, value] of Object.entries(cases)) {
    for (const target of ['raw://a:1,b:2', 'raw://a:1', 'grpc://a:1']) {
      assert.throws(() => dualrpc.connect(target, { [name]: value }),
        (error) => error instanceof TypeError && error.message.includes(`option ${name} must be`), `${name} ${target}`);
    }
  }
  dualrpc.connect('raw://a:1,b:2', { healthCheckIntervalMs: Infinity, backoffJitter: 0, backoffMultiplier: 1 }).close();
});
