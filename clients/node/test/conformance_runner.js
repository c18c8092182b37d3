#!/usr/bin/env node
'use strict';
// The language-neutral conformance suite (tests/conformance/cases.json,
// schema tests/conformance/conformance.proto) run through the Node client
// against one real dualrpc-server, over both transports with the same code.
//
// Usage: node conformance_runner.js PATH/TO/dualrpc-server [PATH/TO/cases.json]
// Prints one line per case per transport, then exactly "N passed, M failed";
// exits 0 only when nothing failed. The server is always killed.

const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dualrpc = require('..');

const DEFAULT_CASES = path.resolve(__dirname, '..', '..', '..', 'tests', 'conformance', 'cases.json');
const TRANSPORTS = Object.freeze(['grpc', 'raw']);
const CALL_DEADLINE_MS = 30000;
const SERVER_START_TIMEOUT_MS = 30000;
const SERVER_STOP_TIMEOUT_MS = 5000;
// ListDirectory pages followed at most (a broken token chain must not loop).
const MAX_PAGES = 1000;

// --- fixture ---------------------------------------------------------------

function buildFixture(root, nodes) {
  for (const node of nodes) {
    const where = path.join(root, node.path);
    if (node.fileContents !== undefined) {
      fs.writeFileSync(where, node.fileContents);
      fs.chmodSync(where, 0o644);
    } else if (node.directory) {
      fs.mkdirSync(where);
      fs.chmodSync(where, 0o755);
    } else if (node.symlinkTarget !== undefined) {
      fs.symlinkSync(node.symlinkTarget, where);
    } else {
      throw new Error(`fixture node without a kind: ${node.path}`);
    }
  }
}

// --- server ----------------------------------------------------------------

// Starts the server on port 0 for both transports, with `extraFlags`;
// resolves with { process, addresses: { grpc, raw } } once it wrote its
// ready file.
function startServer(serverPath, root, workDir, extraFlags = []) {
  const readyFile = path.join(workDir, 'ready.json');
  const logFile = path.join(workDir, 'server.log');
  const log = fs.openSync(logFile, 'w');
  const server = childProcess.spawn(serverPath, [
    '--root', root,
    '--grpc_listen', '127.0.0.1:0',
    '--raw_listen', '127.0.0.1:0',
    '--ready_file', readyFile,
    ...extraFlags,
  ], { stdio: ['ignore', log, log] });
  fs.closeSync(log);

  return new Promise((resolve, reject) => {
    let watcher = null;
    let timer = null;
    const finish = (error, addresses) => {
      if (watcher === null) return;
      watcher.close();
      watcher = null;
      clearTimeout(timer);
      server.off('exit', onExit);
      server.off('error', onError);
      if (error) {
        const serverLog = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
        reject(new Error(`${error.message}\n${serverLog}`));
      } else {
        resolve({ process: server, addresses });
      }
    };
    // The server writes the ready file under a temporary name and renames
    // it, so a file that exists is complete.
    const check = () => {
      if (!fs.existsSync(readyFile)) return;
      finish(null, JSON.parse(fs.readFileSync(readyFile, 'utf8')));
    };
    const onExit = (code, signal) => finish(new Error(`${serverPath} exited (${signal || code}) before it was ready`));
    const onError = (error) => finish(new Error(`cannot start ${serverPath}: ${error.message}`));
    watcher = fs.watch(workDir, check);
    timer = setTimeout(() => finish(new Error(`${serverPath} not ready after ${SERVER_START_TIMEOUT_MS} ms`)),
      SERVER_START_TIMEOUT_MS);
    server.on('exit', onExit);
    server.on('error', onError);
    check();
  });
}

// SIGTERM (the server drains), then SIGKILL if it lingers.
function stopServer(server) {
  if (server.exitCode !== null || server.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.kill('SIGKILL'), SERVER_STOP_TIMEOUT_MS);
    server.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    server.kill('SIGTERM');
  });
}

// --- cases -----------------------------------------------------------------

// The case's deadline (timeout_ms; 0 or absent: the runner's own bound, so
// that a broken server cannot hang the suite).
// The case's deadline and its authorization (main fills in the suite's
// default; '' or unset sends none).
const callOptions = (testCase) => ({
  deadlineMs: testCase.timeoutMs || CALL_DEADLINE_MS,
  metadata: testCase.authorization ? { authorization: testCase.authorization } : undefined,
});

// What a case produced: { code, echoPayload }, { code, entries, morePages },
// { code, treeEntries } or { code, echoPayloads }. A streaming case keeps
// what it read before a failure (`streamed`).
async function runCase(client, testCase) {
  const streamed = { treeEntries: [], echoPayloads: [] };
  try {
    if (testCase.walkTree !== undefined) return await runWalkTree(client, testCase, streamed);
    if (testCase.echoStream !== undefined) return await runEchoStream(client, testCase, streamed);
    return testCase.echo !== undefined ? await runEcho(client, testCase) : await runListDirectory(client, testCase);
  } catch (error) {
    if (!(error instanceof dualrpc.RpcError)) throw error;
    return { code: error.codeName, details: error.details, ...streamed };
  }
}

async function runEcho(client, testCase) {
  const payload = testCase.echoPayloadBytes
    ? Buffer.alloc(testCase.echoPayloadBytes, 'x')
    : Buffer.from(testCase.echo.payload || '', 'base64');
  return { code: 'OK', echoPayload: await client.echo(payload, callOptions(testCase)) };
}

// WalkTree: every entry of the stream, to the end.
async function runWalkTree(client, testCase, streamed) {
  for await (const entry of client.walkTree(testCase.walkTree, callOptions(testCase))) {
    streamed.treeEntries.push(entry);
  }
  return { code: 'OK', ...streamed };
}

// EchoStream, as the EchoStreamScript says (conformance.proto).
async function runEchoStream(client, testCase, streamed) {
  const script = testCase.echoStream;
  const payloads = (script.payloads || []).map((payload) => Buffer.from(payload, 'base64'));
  const call = client.echoStream(callOptions(testCase));
  const responses = call[Symbol.asyncIterator]();
  // One response; false once the call ended.
  const readOne = async () => {
    const { value, done } = await responses.next();
    if (!done) streamed.echoPayloads.push(value);
    return !done;
  };
  const readToEnd = async () => {
    while (await readOne());
  };
  if (script.sendAllFirst) {
    for (const payload of payloads) call.write(payload);
    call.end();
    await readToEnd();
    return { code: 'OK', ...streamed };
  }
  for (const payload of payloads) {
    call.write(payload);
    if (!(await readOne())) return { code: 'OK', ...streamed };
  }
  if (script.thenPayloadBytes) {
    call.write(Buffer.alloc(script.thenPayloadBytes, 'x'));
  } else if (script.thenCancel) {
    call.cancel();
  } else if (!script.thenWait) {
    call.end();
  }
  await readToEnd();
  return { code: 'OK', ...streamed };
}

async function runListDirectory(client, testCase) {
  const request = { ...testCase.listDirectory };
  if (testCase.pageTokenFromPath) {
    const first = await client.listDirectory({ path: testCase.pageTokenFromPath, pageSize: 1 }, callOptions(testCase));
    request.pageToken = first.nextPageToken;
  }
  const entries = [];
  let morePages = false;
  for (let pages = 0; pages < MAX_PAGES; ++pages) {
    const page = await client.listDirectory(request, callOptions(testCase));
    entries.push(...page.entries);
    morePages = page.nextPageToken !== '';
    if (!testCase.followPages || !morePages) break;
    request.pageToken = page.nextPageToken;
  }
  return { code: 'OK', entries, morePages };
}

// A response value in the JSON form cases.json uses (bytes as base64).
function jsonForm(value) {
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return value;
}

// Mismatches between `got` and the fields `want` sets, recursively (the
// expectation names only the fields that do not depend on the machine).
function compareFieldsSet(label, got, want, problems) {
  for (const [field, value] of Object.entries(want)) {
    const actual = got === null || got === undefined ? undefined : got[field];
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      compareFieldsSet(`${label}.${field}`, actual, value, problems);
    } else if (jsonForm(actual) !== jsonForm(value)) {
      problems.push(`${label}.${field}: ${JSON.stringify(jsonForm(actual))}, want ${JSON.stringify(value)}`);
    }
  }
}

// The streams a streaming case read, against expect.tree_entries or
// expect.echo_payloads: checked whatever the status (a call that fails
// mid-stream yields what came before).
function compareStreamed(testCase, outcome) {
  const expect = testCase.expect || {};
  const problems = [];
  if (testCase.walkTree !== undefined) {
    const want = expect.treeEntries || [];
    const got = outcome.treeEntries || [];
    if (got.length !== want.length) {
      return [`${got.length} tree entries [${got.map((entry) => entry.path).join(',')}], want ${want.length}`];
    }
    want.forEach((entry, i) => compareFieldsSet(`tree entry ${i}`, got[i], entry, problems));
  } else {
    const want = expect.echoPayloads || [];
    const got = (outcome.echoPayloads || []).map((payload) => payload.toString('base64'));
    if (got.length !== want.length || got.some((payload, i) => payload !== want[i])) {
      const show = (payloads) => payloads.map((payload) => (payload.length > 16 ? `${payload.slice(0, 16)}…` : payload));
      problems.push(`echo payloads [${show(got)}], want [${show(want)}] (base64)`);
    }
  }
  return problems;
}

// Mismatches between `outcome` and the case's expectation; empty when it passed.
function compare(testCase, outcome) {
  const expect = testCase.expect || {};
  const expectedCode = expect.code || 'OK';
  const streaming = testCase.walkTree !== undefined || testCase.echoStream !== undefined;
  const problems = streaming ? compareStreamed(testCase, outcome) : [];
  if (outcome.code !== expectedCode) {
    return [`status ${outcome.code} (${outcome.details || ''}), want ${expectedCode}`, ...problems];
  }
  if (streaming || outcome.code !== 'OK') return problems;
  if (testCase.echo !== undefined) {
    const want = expect.echoPayloadBytes
      ? Buffer.alloc(expect.echoPayloadBytes, 'x')
      : Buffer.from((expect.echo && expect.echo.payload) || '', 'base64');
    if (outcome.echoPayload.equals(want)) return [];
    return want.length <= 64
      ? [`echo payload ${outcome.echoPayload.toString('base64')}, want ${want.toString('base64')} (base64)`]
      : [`echo payload of ${outcome.echoPayload.length} bytes differs from the ${want.length} expected`];
  }
  const wantEntries = expect.entries || [];
  const gotNames = outcome.entries.map((entry) => entry.name).join(',');
  if (outcome.entries.length !== wantEntries.length) {
    problems.push(`${outcome.entries.length} entries [${gotNames}], want ${wantEntries.length}`);
    return problems;
  }
  wantEntries.forEach((want, i) => {
    const got = outcome.entries[i];
    // Only the fields the case sets are compared (mtime and mode vary).
    for (const [field, value] of Object.entries(want)) {
      if (jsonForm(got[field]) !== jsonForm(value)) {
        problems.push(`entry ${i} ${field}: ${JSON.stringify(jsonForm(got[field]))}, want ${JSON.stringify(value)}`);
      }
    }
    if (!got.modifyTime) problems.push(`entry ${i} (${got.name}) has no modifyTime`);
  });
  if (!testCase.followPages && outcome.morePages !== Boolean(expect.morePages)) {
    problems.push(`more pages: ${outcome.morePages}, want ${Boolean(expect.morePages)}`);
  }
  return problems;
}

// --- main ------------------------------------------------------------------

async function main() {
  const [serverPath, casesPath = DEFAULT_CASES] = process.argv.slice(2);
  if (!serverPath) {
    console.error('usage: conformance_runner.js PATH/TO/dualrpc-server [PATH/TO/cases.json]');
    return 2;
  }
  const suite = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dualrpc-node-conformance-'));
  const root = path.join(workDir, 'root');
  fs.mkdirSync(root);
  let server = null;
  const killServer = () => {
    if (server !== null && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  };
  process.on('exit', killServer);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      killServer();
      process.exit(1);
    });
  }
  let passed = 0;
  let failed = 0;
  try {
    buildFixture(root, suite.fixture || []);
    for (const testCase of suite.cases) {
      if (!('authorization' in testCase)) testCase.authorization = suite.defaultAuthorization || '';
    }
    // The server authenticates (Suite.authTokens, conformance.proto).
    const tokensFile = path.join(workDir, 'tokens');
    fs.writeFileSync(tokensFile, suite.authTokens || '');
    const started = await startServer(path.resolve(serverPath), root, workDir, [
      `--auth_tokens=${tokensFile}`,
      `--auth_open_methods=${suite.authOpenMethods || ''}`,
    ]);
    server = started.process;
    for (const transport of TRANSPORTS) {
      const client = dualrpc.connect(`${transport}://${started.addresses[transport]}`);
      try {
        for (const testCase of suite.cases) {
          const problems = compare(testCase, await runCase(client, testCase));
          if (problems.length === 0) {
            passed += 1;
            console.log(`PASS ${transport} ${testCase.name}`);
          } else {
            failed += 1;
            console.log(`FAIL ${transport} ${testCase.name}: ${problems.join('; ')}`);
          }
        }
      } finally {
        client.close();
      }
    }
  } catch (error) {
    failed += 1;
    console.log(`FAIL runner: ${error.stack || error}`);
  } finally {
    if (server !== null) await stopServer(server);
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

if (require.main === module) {
  main().then((code) => {
    process.exitCode = code;
  });
}

// The server fixture, shared with package_install_test.js; runCase and
// compare for streaming_grpc.test.js, which runs the echo_stream cases
// against its own EchoStream server.
module.exports = { startServer, stopServer, runCase, compare };
