// Type declarations for the dualrpc Node client (lib/index.js). Hand-written:
// keep them in step with lib/index.js, lib/client.js and lib/status.js
// (test/package_install_test.js checks that every runtime export is declared).

/// <reference types="node" />

import { Duplex } from 'node:stream';

/** gRPC's status codes by name, 0..16 (docs/PROTOCOL.md §6.1). */
export declare const Code: Readonly<{
  OK: 0;
  CANCELLED: 1;
  UNKNOWN: 2;
  INVALID_ARGUMENT: 3;
  DEADLINE_EXCEEDED: 4;
  NOT_FOUND: 5;
  ALREADY_EXISTS: 6;
  PERMISSION_DENIED: 7;
  RESOURCE_EXHAUSTED: 8;
  FAILED_PRECONDITION: 9;
  ABORTED: 10;
  OUT_OF_RANGE: 11;
  UNIMPLEMENTED: 12;
  INTERNAL: 13;
  UNAVAILABLE: 14;
  DATA_LOSS: 15;
  UNAUTHENTICATED: 16;
}>;

export type CodeName = keyof typeof Code;
export type CodeNumber = (typeof Code)[CodeName];

/** Request metadata: lower-case keys; Buffer values for keys ending in "-bin". */
export type Metadata = Record<string, string | Buffer | Array<string | Buffer>>;

/** The one error every failed call rejects with, on either transport. */
export declare class RpcError extends Error {
  constructor(code: number, details?: string, metadata?: Record<string, unknown>);
  readonly name: 'RpcError';
  /** A status code; numbers outside 0..16 become UNKNOWN. */
  readonly code: CodeNumber;
  readonly codeName: CodeName;
  readonly details: string;
  /** The server's response metadata (trailers). */
  readonly metadata: Record<string, unknown>;
}

/** The environment variable naming the directory that holds dualrpc/v1/*.proto. */
export declare const PROTO_DIR_ENV: 'DUALRPC_PROTO_DIR';

/**
 * TLS settings of a grpcs:// or raws:// target, the same on both transports
 * (grpcurl's -cacert, -cert, -key, -servername, -insecure). Files are read
 * when connect() is called. Given for a plaintext target, connect() throws.
 */
export interface TlsOptions {
  /** PEM CA bundle the server certificate must verify against (default: Node's trust store). */
  caFile?: string;
  /** The same as PEM text; give caFile or ca, not both. */
  ca?: string | Buffer;
  /** PEM client certificate (mTLS); needs keyFile (or key). */
  certFile?: string;
  /** The same as PEM text; give certFile or cert, not both. */
  cert?: string | Buffer;
  /** PEM private key of the client certificate; needs certFile (or cert). */
  keyFile?: string;
  /** The same as PEM text; give keyFile or key, not both. */
  key?: string | Buffer;
  /** The name the server certificate must match instead of the target's host; also the SNI sent. */
  serverName?: string;
  /** Skip verifying the server certificate (chain, expiry, name); the connection is still encrypted. */
  insecure?: boolean;
}

export interface ConnectOptions {
  /** Default deadline of every call, in ms (none by default). */
  deadlineMs?: number;
  /** Largest request or response message (4 MiB, as the server). */
  maxMessageBytes?: number;
  /** raw:// only: largest call header (16 KiB, as the server). */
  maxHeaderBytes?: number;
  /**
   * raw:// and raws:// only: longest wait for a TCP connect (and TLS
   * handshake; on a balanced target, the server's preface), in ms (5000).
   */
  connectTimeoutMs?: number;
  /**
   * Balanced raw targets (raw://H1:P1,H2:P2, raw+dns:///NAME:PORT): a PING
   * after this long without a frame received on a connection, in ms (5000;
   * Infinity: none).
   */
  healthCheckIntervalMs?: number;
  /** Balanced raw targets: the longest wait for a PING's answer before the backend is ejected, in ms (2000). */
  healthCheckTimeoutMs?: number;
  /** Balanced raw targets: the first delay before an ejected backend is tried again, in ms (1000). */
  backoffInitialMs?: number;
  /** Balanced raw targets: each later delay is this many times the last (1.6; at least 1). */
  backoffMultiplier?: number;
  /** Balanced raw targets: each delay is randomised by ± this fraction (0.2; in [0, 1)). */
  backoffJitter?: number;
  /** Balanced raw targets: the longest delay, in ms (120000). */
  backoffMaxMs?: number;
  /** raw+dns:/// targets: how often the name is resolved again, in ms (30000). */
  dnsRefreshMs?: number;
  /** grpcs:// and raws:// only: what to trust and what to present. */
  tls?: TlsOptions;
  /**
   * Sent with every call as "authorization: Bearer <token>", on both
   * transports (printable ASCII, no spaces). A call's own `authorization`
   * metadata replaces it; not together with metadata.authorization.
   */
  token?: string;
  /** Metadata sent with every call; a call's own metadata replaces the keys it sets. */
  metadata?: Metadata;
  /**
   * Directory holding dualrpc/v1/file_service.proto and
   * dualrpc/wire/v1/wire.proto; else $DUALRPC_PROTO_DIR, else the copy
   * bundled in the package (or the repository's proto/ in a checkout).
   */
  protoDir?: string;
}

export interface CallOptions {
  /** This call's deadline in ms, for the whole call (streams included); Infinity or null for none. */
  deadlineMs?: number | null;
  metadata?: Metadata;
}

export interface ListDirectoryRequest {
  path?: string;
  pageSize?: number;
  pageToken?: string;
}

/** A google.protobuf.Timestamp as protobufjs renders it (int64 as string). */
export interface Timestamp {
  seconds: string;
  nanos: number;
}

export type EntryType = 'TYPE_UNSPECIFIED' | 'TYPE_FILE' | 'TYPE_DIRECTORY' | 'TYPE_SYMLINK' | 'TYPE_OTHER';

/** dualrpc.v1.DirectoryEntry as a plain object (enums by name, int64 as string). */
export interface DirectoryEntry {
  name: string;
  type: EntryType;
  sizeBytes: string;
  mode: number;
  modifyTime: Timestamp | null;
  symlinkTarget: string;
  [field: string]: unknown;
}

export interface ListDirectoryResponse {
  entries: DirectoryEntry[];
  nextPageToken: string;
  [field: string]: unknown;
}

/** Response metadata (trailers): values are Buffers for keys ending in "-bin". */
export type Trailers = Record<string, Array<string | Buffer>>;

/** dualrpc.v1.WalkTreeRequest: `maxDepth` 0 means no limit. */
export interface WalkTreeRequest {
  path?: string;
  maxDepth?: number;
}

/** dualrpc.v1.WalkError: a gRPC status code and its message. */
export interface WalkError {
  code: number;
  message: string;
}

/** dualrpc.v1.TreeEntry as a plain object: one entry of a WalkTree walk. */
export interface TreeEntry {
  path: string;
  rawPath: Buffer;
  depth: number;
  entry: DirectoryEntry | null;
  error: WalkError | null;
  [field: string]: unknown;
}

/**
 * One streaming call, the same on both transports: a Node Duplex in object
 * mode. Read the responses with `for await (const r of call)` (or 'data',
 * pipe); the call's failure is the stream's error, an RpcError thrown by the
 * iterator after the responses that came before it. Write requests with
 * write() (false means wait for 'drain': the transport's flow control is
 * behind it) and end() to half-close. Response credit is returned to the
 * server only as responses are read.
 */
export interface ClientCall<Req = Record<string, unknown>, Res = Record<string, unknown>> extends Duplex {
  /** Ends the call at once with CANCELLED; the server is told. */
  cancel(): void;
  /** The response metadata, once the call ended ({} when cancelled locally). Never rejects. */
  readonly trailers: Promise<Trailers>;
  /** Client streaming: the one response; rejects with the call's RpcError. */
  readonly response: Promise<Res>;
  [Symbol.asyncIterator](): NodeJS.AsyncIterator<Res>;
}

/** Requests for a streaming call: an array, any iterable or an async iterable. */
export type Requests<Req> = Iterable<Req> | AsyncIterable<Req>;

/** Calls one server over grpc:// or raw://; the API is the same for both. */
export declare class Client {
  /**
   * Any unary method of the contract by its gRPC path
   * ("/dualrpc.v1.FileService/Echo"), with a plain request object
   * (camelCase fields, Buffers or base64 for bytes). Resolves with the
   * response as a plain object.
   */
  call(method: string, request?: Record<string, unknown>, options?: CallOptions):
    Promise<Record<string, unknown>>;
  /** Resolves with the payload the server sent back. */
  echo(payload: Buffer | Uint8Array | string, options?: CallOptions): Promise<Buffer>;
  /** One page of a directory's entries. */
  listDirectory(request?: ListDirectoryRequest, options?: CallOptions):
    Promise<ListDirectoryResponse>;
  /**
   * Server streaming, any method of the contract: one request, the
   * responses as a ClientCall. Local failures (unknown method, another
   * kind, a bad request) are the call's error.
   */
  serverStream(method: string, request?: Record<string, unknown>, options?: CallOptions):
    ClientCall<never, Record<string, unknown>>;
  /** Client streaming: writes every request, half-closes, resolves with the response. */
  clientStream(method: string, requests: Requests<Record<string, unknown>>, options?: CallOptions):
    Promise<Record<string, unknown>>;
  /** Client streaming by hand: write(), end(), then `await call.response`. */
  clientStreamCall(method: string, options?: CallOptions): ClientCall;
  /** Bidi streaming: write(), end(), `for await`, cancel(). */
  bidiStream(method: string, options?: CallOptions): ClientCall;
  /** Bidi streaming fed from `requests`; the call half-closes after the last. */
  bidiStream(method: string, requests: Requests<Record<string, unknown>>, options?: CallOptions): ClientCall;
  /** Every TreeEntry of the walk, in order, whatever the batching into responses. */
  walkTree(request?: WalkTreeRequest, options?: CallOptions): ClientCall<never, TreeEntry>;
  /** EchoStream: write payloads, read the payloads echoed back, in order. */
  echoStream(options?: CallOptions): ClientCall<Buffer | Uint8Array | string, Buffer>;
  /** EchoStream fed from `payloads`; the call half-closes after the last. */
  echoStream(payloads: Requests<Buffer | Uint8Array | string>, options?: CallOptions):
    ClientCall<Buffer | Uint8Array | string, Buffer>;
  /** Fails the calls in flight (streams too) with CANCELLED; later calls fail with CANCELLED. */
  close(): void;
}

/**
 * A Client for "grpc://host:port" or "host:port" (gRPC), "raw://host:port",
 * "grpcs://host:port" (gRPC over TLS), "raws://host:port" (raw over TLS,
 * ALPN dualrpc/1), "unix:///path" (gRPC on a unix socket) or
 * "raw+unix:///path" (raw on a unix socket); IPv6 hosts in brackets; lists
 * "raw://h1:p1,h2:p2", "grpc://10.0.0.1:p,10.0.0.2:p" (IP literals of one
 * family) and DNS names "dns:///name:port", "raw+dns:///name:port",
 * "grpcs+dns:///…", "raws+dns:///…", balanced per call (README "Targets
 * and load balancing"). Throws TypeError for anything else and for bad
 * options. Connects lazily; a failed TLS handshake fails the calls with
 * UNAVAILABLE saying why.
 */
export declare function connect(target: string, options?: ConnectOptions): Client;
