'use strict';
// A scripted raw-protocol peer for the Node client's tests: net.createServer
// speaking docs/PROTOCOL.md frame by frame, with frames encoded and parsed
// by hand from the spec (not with the client's codec), so that the tests
// check the client against the document.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const protobuf = require('protobufjs');

const dualrpc = require('..');

const ECHO = '/dualrpc.v1.FileService/Echo';
const T = Object.freeze({ REQUEST: 1, RESPONSE: 2, CANCEL: 3, PING: 4, GOAWAY: 5, MESSAGE: 6, WINDOW_UPDATE: 7 });
const END_STREAM = 0x01;
const COMPRESSED = 0x02;
const ACK = 0x80;
// A 1.0 server's preface; the client announces 1.1 (§7.1).
const PREFACE = Buffer.from([0x44, 0x52, 0x50, 0x43, 1, 0, 0, 0]);
const CLIENT_PREFACE = Buffer.from([0x44, 0x52, 0x50, 0x43, 1, 1, 0, 0]);
// A 1.1 server's preface: streaming calls allowed.
const PREFACE_1_1 = CLIENT_PREFACE;

const wire = protobuf.loadSync(
  path.resolve(__dirname, '..', '..', '..', 'proto', 'dualrpc', 'wire', 'v1', 'wire.proto'));
const RequestHeader = wire.lookupType('dualrpc.wire.v1.RequestHeader');

// --- hand-written wire helpers -------------------------------------------------

function frame(type, flags, callId, payload = Buffer.alloc(0)) {
  const header = Buffer.alloc(12);
  header.writeUInt32BE(payload.length, 0);
  header[4] = type;
  header[5] = flags;
  header.writeUInt32BE(callId, 8);
  return Buffer.concat([header, payload]);
}

function varint(value) {
  const bytes = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

// ResponseHeader { status_code = 1; status_message = 2 }, empty for OK.
function responseHeader(code = 0, message = '') {
  const parts = [];
  if (code !== 0) parts.push(Buffer.from([0x08]), varint(code));
  if (message) parts.push(Buffer.from([0x12]), varint(Buffer.byteLength(message)), Buffer.from(message));
  return Buffer.concat(parts);
}

function u32(value) {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value, 0);
  return bytes;
}

// EchoRequest and EchoResponse share their encoding (bytes payload = 1), so
// echoing the request message is a valid response message.
function okResponse(callId, message) {
  return frame(T.RESPONSE, END_STREAM, callId, Buffer.concat([u32(0), message]));
}

function errorResponse(callId, code, text) {
  const header = responseHeader(code, text);
  return frame(T.RESPONSE, END_STREAM, callId, Buffer.concat([u32(header.length), header]));
}

// Streaming frames (§7.2, §7.4).
function message(callId, bytes) {
  return frame(T.MESSAGE, 0, callId, bytes);
}

function windowUpdate(callId, increment) {
  return frame(T.WINDOW_UPDATE, 0, callId, u32(increment));
}

// The RESPONSE that ends a server-streaming or bidi call: status, no message.
function streamEnd(callId, code = 0, text = '') {
  return errorResponse(callId, code, text);
}

function goaway(lastCallId, code, text) {
  return frame(T.GOAWAY, 0, 0, Buffer.concat([u32(lastCallId), responseHeader(code, text)]));
}

// --- the fake server -----------------------------------------------------------

// One accepted connection: parses the client's preface and frames, answers
// the preface, and hands frames out in order through next().
class FakePeer {
  constructor(socket, { preface }) {
    this.socket = socket;
    this.preface_ = preface;
    this.buffer_ = Buffer.alloc(0);
    this.sawPreface_ = false;
    this.pings_ = 0;
    // Frames received and not yet taken by next().
    this.unread = [];
    this.waiters_ = [];
    this.ended = new Promise((resolve) => socket.once('close', resolve));
    socket.on('data', (chunk) => this.onData_(chunk));
    socket.on('error', () => {});
  }

  onData_(chunk) {
    this.buffer_ = Buffer.concat([this.buffer_, chunk]);
    if (!this.sawPreface_) {
      if (this.buffer_.length < 8) return;
      assert.deepEqual(this.buffer_.subarray(0, 8), CLIENT_PREFACE, 'client preface');
      this.buffer_ = this.buffer_.subarray(8);
      this.sawPreface_ = true;
      if (this.preface_ !== null) this.socket.write(this.preface_);
    }
    while (this.buffer_.length >= 12) {
      const length = this.buffer_.readUInt32BE(0);
      if (this.buffer_.length < 12 + length) return;
      const parsed = {
        type: this.buffer_[4],
        flags: this.buffer_[5],
        reserved: this.buffer_.readUInt16BE(6),
        callId: this.buffer_.readUInt32BE(8),
        payload: Buffer.from(this.buffer_.subarray(12, 12 + length)),
      };
      if (parsed.type === T.REQUEST) {
        const headerLength = parsed.payload.readUInt32BE(0);
        parsed.header = RequestHeader.decode(parsed.payload.subarray(4, 4 + headerLength));
        parsed.message = parsed.payload.subarray(4 + headerLength);
      }
      this.buffer_ = this.buffer_.subarray(12 + length);
      const waiter = this.waiters_.shift();
      if (waiter) waiter(parsed); else this.unread.push(parsed);
    }
  }

  // The next frame from the client.
  next() {
    if (this.unread.length > 0) return Promise.resolve(this.unread.shift());
    return new Promise((resolve) => this.waiters_.push(resolve));
  }

  async nextOfType(type) {
    const received = await this.next();
    assert.equal(received.type, type, `frame type ${received.type}, want ${type}`);
    return received;
  }

  // A round trip through the client: sends a PING and resolves with every
  // frame the client sent before its ACK. The client answers a PING when
  // it reads it, after the work its earlier events queued (timers aside),
  // so the frames before the ACK are all it had to send by then: the way
  // to check what a client holds back, without sleeping.
  async barrier() {
    const token = Buffer.alloc(8);
    token.writeUInt32BE(++this.pings_, 4);
    this.write(frame(T.PING, 0, 0, token));
    const before = [];
    for (;;) {
      const received = await this.next();
      if (received.type === T.PING && received.flags === ACK && received.payload.equals(token)) return before;
      before.push(received);
    }
  }

  // Sends the server preface now (a peer started with `holdPreface`).
  sendPreface(preface) {
    this.socket.write(preface);
  }

  write(bytes) {
    this.socket.write(bytes);
  }
}

class FakeServer {
  // `unixPath`: listen on that unix socket instead of 127.0.0.1:0.
  // `preface`: what the peers answer the client's preface with; null: they
  // wait for FakePeer.sendPreface.
  static async start(t, { preface = PREFACE, unixPath = '' } = {}) {
    const server = new FakeServer(preface);
    server.unixPath_ = unixPath;
    await new Promise((resolve) => (unixPath
      ? server.server_.listen(unixPath, resolve)
      : server.server_.listen(0, '127.0.0.1', resolve)));
    t.after(() => server.close());
    return server;
  }

  constructor(preface) {
    this.peers = [];
    this.waiters_ = [];
    this.server_ = net.createServer((socket) => {
      const peer = new FakePeer(socket, { preface });
      this.peers.push(peer);
      const waiter = this.waiters_.shift();
      if (waiter) waiter(peer);
    });
  }

  get target() {
    if (this.unixPath_) return `raw+unix://${this.unixPath_}`;
    return `raw://127.0.0.1:${this.server_.address().port}`;
  }

  // The n-th accepted connection (0-based), once accepted.
  peer(n) {
    if (n < this.peers.length) return Promise.resolve(this.peers[n]);
    assert.equal(n, this.peers.length + this.waiters_.length, 'wait for connections in order');
    return new Promise((resolve) => this.waiters_.push(resolve));
  }

  close() {
    for (const peer of this.peers) peer.socket.destroy();
    this.server_.close();
  }
}

function connect(t, server, options) {
  const client = dualrpc.connect(server.target, options);
  t.after(() => client.close());
  return client;
}

// A proto directory holding the contract plus a test-only service with the
// kind FileService lacks, client streaming:
//   dualrpc.v1.StreamTestService/Gather(stream EchoRequest) returns (EchoResponse)
// (the Node client loads the contract's files from `protoDir`, so a copy of
// file_service.proto with this service appended is the way to add one).
const GATHER = '/dualrpc.v1.StreamTestService/Gather';
function protoDirWithGather(t) {
  const repositoryProto = path.resolve(__dirname, '..', '..', '..', 'proto');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dualrpc-node-proto-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const file of ['dualrpc/v1/file_service.proto', 'dualrpc/wire/v1/wire.proto']) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.copyFileSync(path.join(repositoryProto, file), path.join(dir, file));
  }
  fs.appendFileSync(path.join(dir, 'dualrpc/v1/file_service.proto'),
    '\nservice StreamTestService {\n  rpc Gather(stream EchoRequest) returns (EchoResponse);\n}\n');
  return dir;
}

async function rejectsWith(promise, codeName) {
  const error = await promise.then(
    () => assert.fail(`resolved, want ${codeName}`),
    (rejection) => rejection);
  assert.ok(error instanceof dualrpc.RpcError, `want an RpcError, got ${error}`);
  assert.equal(error.codeName, codeName, error.message);
  assert.equal(error.code, dualrpc.Code[codeName]);
  return error;
}

module.exports = {
  ECHO, T, END_STREAM, COMPRESSED, ACK, PREFACE, PREFACE_1_1, CLIENT_PREFACE, RequestHeader,
  frame, varint, u32, responseHeader, okResponse, errorResponse, message, windowUpdate, streamEnd, goaway,
  FakePeer, FakeServer, connect, rejectsWith, GATHER, protoDirWithGather,
};
