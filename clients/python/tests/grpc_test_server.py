"""A grpcio server for the client's grpc:// streaming tests (test-only).

Implements dualrpc.v1.FileService's Echo, WalkTree and EchoStream over generic
handlers, in Python, with a few scripted paths, plus a client-streaming
JOIN_METHOD (EchoRequests in, one EchoResponse with the payloads joined).
Binds 127.0.0.1:0. Works for the sync and the asyncio client alike (the
server runs on its own threads).
"""

import concurrent.futures
import threading

import grpc

from dualrpc.v1 import file_service_pb2

JOIN_METHOD = "/dualrpc.test.v1.Concat/Join"
# WalkTree answers any path with these entries, in two responses...
WALK_PATHS = ["docs/a.md", "docs/b.md", "docs/c.md"]
# ... except these paths: two entries, then NOT_FOUND "gone"; or one entry,
# then nothing until the call ends (deadline or cancel).
FAIL_AFTER_TWO = "fail-after-two"
HANG_AFTER_ONE = "hang-after-one"
_WAIT_SECONDS = 10.0


def _entry(path):
    return file_service_pb2.TreeEntry(
        path=path, depth=path.count("/"),
        entry=file_service_pb2.DirectoryEntry(name=path.rsplit("/", 1)[-1]))


class FileServiceImpl:
    """What the handlers saw: the last call's metadata, and whether a call
    was cancelled (set once grpcio reports it)."""

    def __init__(self):
        self.last_metadata = {}
        self.cancelled = threading.Event()

    def walk_tree(self, request, context):
        self.last_metadata = dict(context.invocation_metadata())
        context.add_callback(lambda: None if context.is_active() else self.cancelled.set())
        if request.path == HANG_AFTER_ONE:
            yield file_service_pb2.WalkTreeResponse(entries=[_entry(WALK_PATHS[0])])
            ended = threading.Event()
            context.add_callback(ended.set)
            ended.wait(_WAIT_SECONDS)
            return
        yield file_service_pb2.WalkTreeResponse(entries=[_entry(p) for p in WALK_PATHS[:2]])
        if request.path == FAIL_AFTER_TWO:
            context.abort(grpc.StatusCode.NOT_FOUND, "gone")
        context.set_trailing_metadata((("walk-note", "done"),))
        yield file_service_pb2.WalkTreeResponse(entries=[_entry(p) for p in WALK_PATHS[2:]])

    def echo(self, request, context):
        self.last_metadata = dict(context.invocation_metadata())
        return file_service_pb2.EchoResponse(payload=request.payload)

    def echo_stream(self, requests, context):
        self.last_metadata = dict(context.invocation_metadata())
        for request in requests:
            yield file_service_pb2.EchoResponse(payload=request.payload)

    @staticmethod
    def join(requests, _context):
        return file_service_pb2.EchoResponse(payload=b"".join(r.payload for r in requests))


class _Handlers(grpc.GenericRpcHandler):
    def __init__(self, service):
        self._methods = {
            "/dualrpc.v1.FileService/Echo": grpc.unary_unary_rpc_method_handler(
                service.echo, file_service_pb2.EchoRequest.FromString,
                file_service_pb2.EchoResponse.SerializeToString),
            "/dualrpc.v1.FileService/WalkTree": grpc.unary_stream_rpc_method_handler(
                service.walk_tree, file_service_pb2.WalkTreeRequest.FromString,
                file_service_pb2.WalkTreeResponse.SerializeToString),
            "/dualrpc.v1.FileService/EchoStream": grpc.stream_stream_rpc_method_handler(
                service.echo_stream, file_service_pb2.EchoRequest.FromString,
                file_service_pb2.EchoResponse.SerializeToString),
            JOIN_METHOD: grpc.stream_unary_rpc_method_handler(
                service.join, file_service_pb2.EchoRequest.FromString,
                file_service_pb2.EchoResponse.SerializeToString),
        }

    def service(self, handler_call_details):
        return self._methods.get(handler_call_details.method)


class GrpcTestServer:
    def __init__(self):
        self.service = FileServiceImpl()
        self._server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers((_Handlers(self.service),))
        self._port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    @property
    def port(self):
        return self._port

    @property
    def target(self):
        return f"grpc://127.0.0.1:{self._port}"

    def stop(self):
        self._server.stop(grace=None).wait(_WAIT_SECONDS)


def start():
    return GrpcTestServer()
