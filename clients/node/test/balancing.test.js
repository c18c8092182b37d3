'use strict';
// Multi-address targets against real dualrpc-server replicas on loopback
// (issue 13 §4, decisions D1 and D2): raw client-side balancing
// (round-robin, a replica killed, drained, stopped, refusing, all down)
// and grpc-js's own round_robin for lists and dns:///. Each replica serves
// its own root, which holds one file named after it, so ListDirectory('.')
// says which replica answered. Needs DUALRPC_SERVER (ctest sets it).
//
// dns:/// and raw+dns:/// need a name with three addresses: the test
// replaces dns.promises.lookup (which grpc-js's resolver and the raw
// balancer both call at each resolution) with one that answers
// 127.0.0.1, 127.0.0.2 and 127.0.0.3 for TEST_NAME, and the replicas
// listen on the same ports on those three loopback addresses.

const assert = require('node:assert/strict');
const dns = require('node:dns');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');

const dualrpc = require('..');
const { startServer, stopServer } = require('./conformance_runner');

const TEST_NAME = 'replicas.dualrpc.test';
const TEST_NAME_ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
// Every wait for a condition in this file ends after this long.
const WAIT_TIMEOUT_MS = 15000;
// Deadline of every call: long enough that a call that fails, fails for
// the reason the test is about and not for its deadline.
const CALL_DEADLINE_MS = 10000;

// What TEST_NAME resolves to now (a test may change it, and restores it).
let testNameAnswer = TEST_NAME_ADDRESSES;
const realLookup = dns.promises.lookup;
dns.promises.lookup = (name, options) => {
  if (name !== TEST_NAME) return realLookup.call(dns.promises, name, options);
  return Promise.resolve(testNameAnswer.map((address) => ({ address, family: 4 })));
};

function serverPath() {
  const executable = process.env.DUALRPC_SERVER;
  if (!executable) throw new Error('set DUALRPC_SERVER to the dualrpc-server binary (ctest does)');
  return executable;
}

function tempDir(t, prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A dualrpc-server whose root holds one file, `name`; stopped (SIGCONT
// first, in case the test stopped it) after the test. `extraFlags` come
// after the launcher's (later flags win). Resolves with
// { name, process, grpc, raw }.
async function startReplica(t, name, extraFlags = []) {
  const root = tempDir(t, `dualrpc-node-lb-root-${name}-`);
  fs.writeFileSync(path.join(root, name), name);
  const started = await startServer(serverPath(), root, tempDir(t, 'dualrpc-node-lb-server-'), extraFlags);
  t.after(() => {
    if (started.process.exitCode === null && started.process.signalCode === null) started.process.kill('SIGCONT');
    return stopServer(started.process);
  });
  return { name, process: started.process, ...started.addresses };
}

function startReplicas(t, count) {
  return Promise.all(Array.from({ length: count }, (unused, i) => startReplica(t, `replica-${i}`)));
}

// Three replicas on the same gRPC and raw ports of 127.0.0.1, .2 and .3.
async function startReplicasOnTestName(t) {
  const first = await startReplica(t, 'replica-0');
  const portOf = (address) => address.slice(address.lastIndexOf(':') + 1);
  const others = await Promise.all(TEST_NAME_ADDRESSES.slice(1).map((ip, i) => startReplica(t, `replica-${i + 1}`, [
    '--grpc_listen', `${ip}:${portOf(first.grpc)}`, '--raw_listen', `${ip}:${portOf(first.raw)}`])));
  return { replicas: [first, ...others], grpcPort: portOf(first.grpc), rawPort: portOf(first.raw) };
}

function connect(t, target, options = {}) {
  const client = dualrpc.connect(target, { deadlineMs: CALL_DEADLINE_MS, ...options });
  t.after(() => client.close());
  return client;
}

// The name of the replica that answered one ListDirectory.
async function whoAnswers(client) {
  const { entries } = await client.listDirectory({ path: '.' });
  assert.equal(entries.length, 1);
  return entries[0].name;
}

// Calls until every replica of `names` answered (backends come up one by
// one); fails after WAIT_TIMEOUT_MS.
async function untilAllAnswer(client, names) {
  const seen = new Set();
  const start = performance.now();
  while (seen.size < names.length) {
    assert.ok(performance.now() - start < WAIT_TIMEOUT_MS, `only ${[...seen]} answered, want ${names}`);
    seen.add(await whoAnswers(client));
  }
}

// How many of `count` sequential calls each replica answered.
async function answerCounts(client, count) {
  const counts = {};
  for (let i = 0; i < count; i += 1) {
    const name = await whoAnswers(client);
    counts[name] = (counts[name] || 0) + 1;
  }
  return counts;
}

// A port on 127.0.0.1 where nothing listens (connects are refused).
async function refusingPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// `callers` closed loops of ListDirectory on `client` until stop() is
// called: { results: [{ caller, name | error, at }], stop(): Promise }.
function closedLoop(client, callers) {
  const results = [];
  let stopping = false;
  const loops = Array.from({ length: callers }, async (unused, caller) => {
    while (!stopping) {
      try {
        results.push({ caller, name: await whoAnswers(client), at: performance.now() });
      } catch (error) {
        results.push({ caller, error, at: performance.now() });
      }
    }
  });
  return {
    results,
    stop: () => {
      stopping = true;
      return Promise.all(loops);
    },
  };
}

// Resolves once `predicate()` holds, looking after every settled call of
// `load` (a closedLoop); rejects after WAIT_TIMEOUT_MS.
async function eventually(predicate, what) {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > WAIT_TIMEOUT_MS) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

// Resolves once the kernel reports `child` stopped (a signal is acted on
// when the process is next scheduled, not when kill() returns).
async function stopped(child) {
  const start = performance.now();
  const state = () => fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
  while (state() !== 'T') {
    if (performance.now() - start > WAIT_TIMEOUT_MS) throw new Error(`process ${child.pid} did not stop`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

const listTarget = (scheme, replicas, key) => `${scheme}://${replicas.map((replica) => replica[key]).join(',')}`;

// --- raw: client-side balancing (D2) -------------------------------------------

test('raw list: calls go round-robin over the three replicas', async (t) => {
  const replicas = await startReplicas(t, 3);
  const client = connect(t, listTarget('raw', replicas, 'raw'));
  await untilAllAnswer(client, replicas.map((replica) => replica.name));
  assert.deepEqual(await answerCounts(client, 30), { 'replica-0': 10, 'replica-1': 10, 'replica-2': 10 });
  // A stream is one call: three walks, three replicas.
  const walked = [];
  for (let i = 0; i < 3; i += 1) {
    for await (const entry of client.walkTree({ path: '.' })) walked.push(entry.path);
  }
  assert.deepEqual(walked.sort(), ['replica-0', 'replica-1', 'replica-2']);
});

test('raw list: a replica killed with SIGKILL fails only the calls in flight on it', async (t) => {
  const replicas = await startReplicas(t, 3);
  const client = connect(t, listTarget('raw', replicas, 'raw'));
  await untilAllAnswer(client, replicas.map((replica) => replica.name));
  const callers = 6;
  const load = closedLoop(client, callers);
  await eventually(() => load.results.length >= 60, '60 calls before the kill');
  replicas[1].process.kill('SIGKILL');
  await exited(replicas[1].process);
  const killedAt = performance.now();
  // Every caller makes 20 more calls after the kill.
  await eventually(() => Array.from({ length: callers }, (unused, caller) => load.results
    .filter((result) => result.caller === caller && result.at > killedAt).length).every((n) => n >= 20),
  '20 calls per caller after the kill');
  await load.stop();
  const failures = load.results.filter((result) => result.error !== undefined);
  // At most one call in flight per caller when the replica died.
  assert.ok(failures.length <= callers, `${failures.length} calls failed: ${failures.map((f) => f.error.message)}`);
  for (const { error } of failures) assert.equal(error.codeName, 'UNAVAILABLE', error.message);
  const lastTen = load.results.slice(-10 * callers);
  assert.ok(lastTen.every((result) => result.name !== undefined && result.name !== 'replica-1'),
    'later calls succeed on the other replicas');
});

test('raw list: a replica drained with SIGTERM fails no call', async (t) => {
  const replicas = await startReplicas(t, 3);
  const client = connect(t, listTarget('raw', replicas, 'raw'));
  await untilAllAnswer(client, replicas.map((replica) => replica.name));
  const load = closedLoop(client, 6);
  await eventually(() => load.results.length >= 60, '60 calls before the drain');
  replicas[2].process.kill('SIGTERM');
  await exited(replicas[2].process);
  const drainedAt = performance.now();
  await eventually(() => load.results.filter((result) => result.at > drainedAt).length >= 120,
    '120 calls after the drain');
  await load.stop();
  const failures = load.results.filter((result) => result.error !== undefined);
  assert.deepEqual(failures.map((failure) => failure.error.message), []);
  const names = new Set(load.results.filter((result) => result.at > drainedAt).map((result) => result.name));
  assert.deepEqual([...names].sort(), ['replica-0', 'replica-1']);
});

test('raw list: a stopped replica (SIGSTOP) is ejected by the PING health check', async (t) => {
  const replicas = await startReplicas(t, 3);
  const client = connect(t, listTarget('raw', replicas, 'raw'), {
    healthCheckIntervalMs: 200, healthCheckTimeoutMs: 300, connectTimeoutMs: 1000, backoffInitialMs: 200,
  });
  await untilAllAnswer(client, replicas.map((replica) => replica.name));
  replicas[0].process.kill('SIGSTOP');
  await stopped(replicas[0].process);
  // Sequential calls: the one that lands on the stopped replica waits for
  // its answer until the health check closes that connection (UNAVAILABLE,
  // long before the call's deadline); later calls go to the others only.
  const start = performance.now();
  const failures = [];
  let inARow = 0;
  while (inARow < 20) {
    assert.ok(performance.now() - start < WAIT_TIMEOUT_MS, `no 20 calls in a row succeeded: ${failures}`);
    try {
      assert.notEqual(await whoAnswers(client), 'replica-0');
      inARow += 1;
    } catch (error) {
      assert.equal(error.codeName, 'UNAVAILABLE', error.message);
      assert.match(error.details, /did not answer a health-check PING within 300 ms/);
      failures.push(error.message);
      inARow = 0;
    }
  }
  assert.ok(failures.length <= 1, `${failures}`);
  // Reconnecting to it is refused too: the kernel accepts, the stopped
  // server never sends its preface (connectTimeoutMs covers it).
  assert.deepEqual(await answerCounts(client, 20), { 'replica-1': 10, 'replica-2': 10 });
});

test('raw list: with the first address refusing, every call succeeds', async (t) => {
  const replicas = await startReplicas(t, 2);
  const target = `raw://127.0.0.1:${await refusingPort()},${replicas[0].raw},${replicas[1].raw}`;
  const concurrent = connect(t, target);
  const answers = await Promise.all(Array.from({ length: 10 }, () => whoAnswers(concurrent)));
  assert.ok(answers.every((name) => name === 'replica-0' || name === 'replica-1'), String(answers));
  const sequential = connect(t, target);
  const counts = await answerCounts(sequential, 20);
  assert.equal(counts['replica-0'] + counts['replica-1'], 20);
});

test('raw list: every replica down fails at once with UNAVAILABLE naming the ejected backends', async (t) => {
  const target = `raw://127.0.0.1:${await refusingPort()},127.0.0.1:${await refusingPort()}`;
  const client = connect(t, target);
  for (let i = 0; i < 2; i += 1) {
    const start = performance.now();
    const error = await whoAnswers(client).then(() => assert.fail('resolved'), (rejection) => rejection);
    assert.equal(error.codeName, 'UNAVAILABLE', error.message);
    assert.match(error.details,
      /^no raw backend is available \(2 ejected\): connection to 127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/);
    // Not after the call's deadline: at once (wait_for_ready is false).
    assert.ok(performance.now() - start < CALL_DEADLINE_MS / 2);
  }
});

test('raw+dns:///: round-robin over every address the name resolves to', async (t) => {
  const { replicas, rawPort } = await startReplicasOnTestName(t);
  const client = connect(t, `raw+dns:///${TEST_NAME}:${rawPort}`);
  await untilAllAnswer(client, replicas.map((replica) => replica.name));
  assert.deepEqual(await answerCounts(client, 30), { 'replica-0': 10, 'replica-1': 10, 'replica-2': 10 });
});

test('raw+dns:///: the name is resolved again every dnsRefreshMs, and at once when every backend is ejected',
  async (t) => {
    const { replicas, rawPort } = await startReplicasOnTestName(t);
    t.after(() => {
      testNameAnswer = TEST_NAME_ADDRESSES;
    });
    testNameAnswer = ['127.0.0.1'];
    const refreshing = connect(t, `raw+dns:///${TEST_NAME}:${rawPort}`, { dnsRefreshMs: 100 });
    assert.deepEqual(await answerCounts(refreshing, 3), { 'replica-0': 3 });
    testNameAnswer = TEST_NAME_ADDRESSES;
    await untilAllAnswer(refreshing, replicas.map((replica) => replica.name));

    // Refreshed only when every backend is ejected: replica-0 killed, the
    // name now answers the other two.
    testNameAnswer = ['127.0.0.1'];
    const client = connect(t, `raw+dns:///${TEST_NAME}:${rawPort}`, { dnsRefreshMs: 600000 });
    assert.equal(await whoAnswers(client), 'replica-0');
    testNameAnswer = ['127.0.0.2', '127.0.0.3'];
    replicas[0].process.kill('SIGKILL');
    await exited(replicas[0].process);
    // A call sent before the client saw the close may fail (it was in
    // flight); none after it.
    const first = await whoAnswers(client).catch((error) => error);
    if (first instanceof Error) assert.equal(first.codeName, 'UNAVAILABLE', first.message);
    assert.deepEqual(await answerCounts(client, 10), { 'replica-1': 5, 'replica-2': 5 });
  });

// --- gRPC: grpc-js's own resolver and round_robin (D1) ---------------------------

// Every replica answers some of `count` calls (grpc-js's round_robin is
// strict, but it is not ours to specify).
function assertSpread(counts, replicas, count) {
  for (const { name } of replicas) {
    assert.ok((counts[name] || 0) >= count / replicas.length / 2, `${JSON.stringify(counts)}`);
  }
}

test('grpc list: grpc-js round_robin over the three replicas', async (t) => {
  const replicas = await startReplicas(t, 3);
  for (const target of [listTarget('grpc', replicas, 'grpc'), replicas.map((replica) => replica.grpc).join(',')]) {
    const client = connect(t, target);
    await untilAllAnswer(client, replicas.map((replica) => replica.name));
    assertSpread(await answerCounts(client, 30), replicas, 30);
  }
});

test('dns:///: grpc-js resolves the name and goes round-robin over its addresses', async (t) => {
  const { replicas, grpcPort } = await startReplicasOnTestName(t);
  const client = connect(t, `dns:///${TEST_NAME}:${grpcPort}`);
  await untilAllAnswer(client, replicas.map((replica) => replica.name));
  assertSpread(await answerCounts(client, 30), replicas, 30);
});
