"""dualrpc.aio: the dualrpc client for asyncio, in the shape of grpc.aio.

    import dualrpc.aio

    async with dualrpc.aio.connect("raw://127.0.0.1:50052") as client:
        assert await client.echo(b"hi", timeout=5) == b"hi"
        async for entry in client.walk_tree("docs"):
            print(entry.path)

Same targets, options, status codes and errors (dualrpc.RpcError) as
dualrpc.connect(). raw:// runs on asyncio streams (no threads); grpc:// on
grpc.aio. A Client belongs to the event loop that first uses it.
"""

from ._client import Client, ResponseStream, connect

__all__ = ["Client", "ResponseStream", "connect"]
