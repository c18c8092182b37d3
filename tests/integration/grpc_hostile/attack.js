// Hostile HTTP/2 peers for tests/integration/grpc_hostile_test.cc: each mode
// runs one attack on a dualrpc-server's gRPC port for a bounded time, then
// leaves (RST or FIN) and exits, printing one JSON line with what it saw.
//
//   node attack.js unread HOST:PORT SECONDS CONNECTIONS STREAMS METHOD ARG
//       CONNECTIONS connections, each opening STREAMS unary calls of METHOD
//       (ListDirectory: ARG is the path, page_size 10000; Echo: ARG is the
//       payload size) and never reading a response: it announces a 64 KiB
//       window, never sends a WINDOW_UPDATE, and stops reading the socket
//       once the requests are sent (the server's writes then block on TCP).
//       Its own request DATA follows the server's flow control.
//   node attack.js idle HOST:PORT SECONDS CONNECTIONS PREFACE
//       CONNECTIONS connections that send the HTTP/2 preface and an empty
//       SETTINGS (PREFACE=1) or nothing at all (PREFACE=0), then nothing.
//   node attack.js flood HOST:PORT SECONDS RATE LINGER_MS
//       RATE connects per second; each sends the preface and SETTINGS and is
//       reset after LINGER_MS (0: at once).
//
// The frames are written by hand (RFC 9113; HPACK literals without
// indexing), not with the http2 module: a client that stops reading its
// socket and ignores flow control for the server's data is what the module
// will not be. Only node's built-in modules are used.
'use strict';

const net = require('net');

const kPreface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const kData = 0x0, kHeaders = 0x1, kRstStream = 0x3, kSettings = 0x4;
const kPing = 0x6, kGoaway = 0x7, kWindowUpdate = 0x8;
const kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4;
const kMaxFrame = 16384;

function Frame(type, flags, streamId, payload) {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

// HPACK integer with an N-bit prefix (RFC 7541 §5.1), first byte `high`.
function HpackInt(value, prefixBits, high) {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([high | value]);
  const bytes = [high | max];
  value -= max;
  while (value >= 128) {
    bytes.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

function HpackString(text) {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([HpackInt(bytes.length, 7, 0), bytes]);
}

// A header block of literals without indexing, new names (RFC 7541 §6.2.2).
function HeaderBlock(headers) {
  const parts = [];
  for (const [name, value] of headers) {
    parts.push(Buffer.from([0]), HpackString(name), HpackString(value));
  }
  return Buffer.concat(parts);
}

function Varint(value) {
  const bytes = [];
  while (value >= 128) {
    bytes.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

// Protobuf field `number` of wire type 2 (bytes/string).
function LengthDelimited(number, bytes) {
  return Buffer.concat([Varint((number << 3) | 2), Varint(bytes.length), bytes]);
}

// The gRPC message prefix: uncompressed, 4-byte length.
function GrpcMessage(proto) {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(proto.length, 1);
  return Buffer.concat([prefix, proto]);
}

function RequestMessage(method, arg) {
  if (method === 'ListDirectory') {
    // path = 1, page_size = 2 (10000, the maximum).
    return GrpcMessage(Buffer.concat([
      LengthDelimited(1, Buffer.from(arg, 'utf8')),
      Buffer.from([0x10]), Varint(10000)]));
  }
  if (method === 'Echo') {
    return GrpcMessage(LengthDelimited(1, Buffer.alloc(Number(arg), 0x61)));
  }
  throw new Error('unknown method ' + method);
}

function ParseAddress(address) {
  const colon = address.lastIndexOf(':');
  return {host: address.slice(0, colon), port: Number(address.slice(colon + 1))};
}

// Reads frames from `socket` and hands each to `onFrame(type, flags, id,
// payload)`.
function FrameReader(socket, onFrame) {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      onFrame(pending[3], pending[4], pending.readUInt32BE(5) & 0x7fffffff,
              pending.subarray(9, 9 + length));
      pending = pending.subarray(9 + length);
    }
  });
}

// One connection of the `unread` attack. Calls `done()` once its requests
// are all written (or the connection failed).
function UnreadConnection(address, streams, method, arg, stats, done) {
  const socket = net.connect(address);
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done(socket);
  };
  const request = RequestMessage(method, arg);
  const headers = HeaderBlock([
    [':method', 'POST'], [':scheme', 'http'],
    [':path', '/dualrpc.v1.FileService/' + method],
    [':authority', address.host + ':' + address.port],
    ['content-type', 'application/grpc'], ['te', 'trailers']]);
  // Flow control for what this client sends: the server's windows.
  let connectionWindow = 65535;
  let initialStreamWindow = 65535;
  let maxConcurrent = Infinity;
  const calls = [];  // {id, offset, window}
  let nextCall = 0;
  let closedCalls = 0;  // reset by the server
  let started = false;

  const pump = () => {
    // Open streams up to the server's limit; send DATA as windows allow.
    while (started && nextCall < streams &&
           nextCall - closedCalls < maxConcurrent) {
      const id = 1 + 2 * nextCall;
      socket.write(Frame(kHeaders, kEndHeaders, id, headers));
      calls.push({id, offset: 0, window: initialStreamWindow, open: true});
      ++nextCall;
    }
    let progress = true;
    while (progress && connectionWindow > 0) {
      progress = false;
      for (const call of calls) {
        if (!call.open || call.offset >= request.length) continue;
        const n = Math.min(kMaxFrame, request.length - call.offset,
                           call.window, connectionWindow);
        if (n <= 0) continue;
        const last = call.offset + n === request.length;
        socket.write(Frame(kData, last ? kEndStream : 0, call.id,
                           request.subarray(call.offset, call.offset + n)));
        call.offset += n;
        call.window -= n;
        connectionWindow -= n;
        stats.requestBytes += n;
        progress = true;
      }
    }
    const allSent = nextCall === streams &&
                    calls.every((c) => !c.open || c.offset === request.length);
    if (allSent) {
      // Never read again: the server's writes block on TCP.
      socket.pause();
      finish();
    }
  };

  socket.on('connect', () => {
    ++stats.connected;
    // A 64 KiB stream window (the default) that is never updated.
    socket.write(Buffer.concat([kPreface, Frame(kSettings, 0, 0, Buffer.alloc(0))]));
  });
  FrameReader(socket, (type, flags, id, payload) => {
    stats.responseBytes += payload.length + 9;
    if (type === kSettings && !(flags & kAck)) {
      for (let i = 0; i + 6 <= payload.length; i += 6) {
        const key = payload.readUInt16BE(i), value = payload.readUInt32BE(i + 2);
        if (key === 0x3) maxConcurrent = value;
        if (key === 0x4) {
          for (const call of calls) call.window += value - initialStreamWindow;
          initialStreamWindow = value;
        }
      }
      socket.write(Frame(kSettings, kAck, 0, Buffer.alloc(0)));
      started = true;
    } else if (type === kWindowUpdate) {
      const increment = payload.readUInt32BE(0) & 0x7fffffff;
      if (id === 0) {
        connectionWindow += increment;
      } else {
        const call = calls.find((c) => c.id === id);
        if (call) call.window += increment;
      }
    } else if (type === kPing && !(flags & kAck)) {
      socket.write(Frame(kPing, kAck, 0, payload));
    } else if (type === kRstStream) {
      const call = calls.find((c) => c.id === id);
      if (call && call.open) {
        call.open = false;
        ++closedCalls;
        ++stats.refused;
      }
    } else if (type === kGoaway) {
      ++stats.goaways;
    }
    pump();
  });
  socket.on('error', () => {
    ++stats.errors;
    finish();
  });
  socket.on('close', () => {
    if (!finished) ++stats.closedByServer;
    finish();
  });
}

function Unread(address, seconds, connections, streams, method, arg) {
  const stats = {
    connected: 0, errors: 0, closedByServer: 0, refused: 0, goaways: 0,
    requestBytes: 0, responseBytes: 0,
  };
  const sockets = [];
  let ready = 0;
  for (let i = 0; i < connections; ++i) {
    UnreadConnection(address, streams, method, arg, stats, (socket) => {
      sockets.push(socket);
      if (++ready === connections) stats.readyMillis = Date.now() - start;
    });
  }
  const start = Date.now();
  setTimeout(() => {
    for (const socket of sockets) socket.resetAndDestroy();
    Report(stats);
  }, seconds * 1000);
}

function Idle(address, seconds, connections, preface) {
  const stats = {connected: 0, errors: 0, closedByServer: 0, closedAtMillis: []};
  const sockets = [];
  const start = Date.now();
  for (let i = 0; i < connections; ++i) {
    const socket = net.connect(address);
    sockets.push(socket);
    socket.on('connect', () => {
      ++stats.connected;
      if (preface) {
        socket.write(Buffer.concat([kPreface, Frame(kSettings, 0, 0, Buffer.alloc(0))]));
      }
    });
    socket.on('data', () => {});
    socket.on('error', () => ++stats.errors);
    socket.on('close', () => {
      if (socket.leaving) return;
      ++stats.closedByServer;
      stats.closedAtMillis.push(Date.now() - start);
    });
  }
  setTimeout(() => {
    for (const socket of sockets) {
      socket.leaving = true;
      socket.resetAndDestroy();
    }
    stats.closedAtMillis.sort((a, b) => a - b);
    stats.firstClosedMillis = stats.closedAtMillis[0];
    stats.lastClosedMillis = stats.closedAtMillis[stats.closedAtMillis.length - 1];
    delete stats.closedAtMillis;
    Report(stats);
  }, seconds * 1000);
}

function Flood(address, seconds, rate, lingerMillis) {
  const stats = {attempted: 0, connected: 0, errors: 0};
  const hello = Buffer.concat([kPreface, Frame(kSettings, 0, 0, Buffer.alloc(0))]);
  const start = Date.now();
  // 10 ms ticks, each opening its share of the rate.
  const perTick = Math.max(1, Math.round(rate / 100));
  const timer = setInterval(() => {
    if (Date.now() - start >= seconds * 1000) {
      clearInterval(timer);
      // The lingering ones are reset by then; give the last a moment.
      setTimeout(() => Report(stats), lingerMillis + 200);
      return;
    }
    for (let i = 0; i < perTick; ++i) {
      ++stats.attempted;
      const socket = net.connect(address);
      socket.on('connect', () => {
        ++stats.connected;
        socket.write(hello);
        setTimeout(() => socket.resetAndDestroy(), lingerMillis);
      });
      socket.on('data', () => {});
      socket.on('error', () => ++stats.errors);
    }
  }, 10);
}

function Report(stats) {
  process.stdout.write(JSON.stringify(stats) + '\n', () => process.exit(0));
}

function Main(argv) {
  const [mode, hostPort, seconds, ...rest] = argv;
  const address = ParseAddress(hostPort);
  if (mode === 'unread') {
    Unread(address, Number(seconds), Number(rest[0]), Number(rest[1]), rest[2],
           rest[3]);
  } else if (mode === 'idle') {
    Idle(address, Number(seconds), Number(rest[0]), rest[1] === '1');
  } else if (mode === 'flood') {
    Flood(address, Number(seconds), Number(rest[0]), Number(rest[1]));
  } else {
    process.stderr.write('usage: see the comment at the top of attack.js\n');
    process.exit(2);
  }
}

Main(process.argv.slice(2));
