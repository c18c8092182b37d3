"""Balanced raw:// targets (issue 13's decision D2) for asyncio: the same
behaviour as dualrpc._raw_balancer (whose doc says what and why), on the
loop that first uses the transport and without threads:

  * callers pick a backend and connect one that has no connection yet
    themselves, under that backend's asyncio.Lock;
  * one maintenance task, started by the first call, runs the health
    checks, starts a reconnect task per ejected backend whose backoff ran
    out, and re-resolves DNS (loop.getaddrinfo); it sleeps until the next
    of them is due or a connection's listener reports a change.

Every REQUEST is in the connection's write buffer once start_call returns,
so here only GOAWAY and failed connects make a call "unsent" (retried).
"""

import asyncio

from .. import _balancing
from .._streaming import CallKind
from ..status import RpcError, StatusCode
from ._raw_transport import AioRawConnection, _ConnectionRetired, open_streams


async def _resolve(name, port):
    """_balancing.resolve's answer, from the loop's getaddrinfo."""
    import socket  # pylint: disable=import-outside-toplevel
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(name, port,
                                                             type=socket.SOCK_STREAM)
    except OSError as error:
        raise RpcError(StatusCode.UNAVAILABLE,
                       f"cannot resolve {name}: {error.strerror or error}") from None
    return _balancing.addresses_of(infos)


class AioBalancedRawTransport:
    """Calls of every kind over several raw backends, on one loop. Same
    interface as AioRawTransport."""

    def __init__(self, target, max_message_bytes, connect_timeout, tls=None,
                 options=_balancing.BalancingOptions(), resolver=_resolve):
        """As BalancedRawTransport's; resolver is a coroutine function."""
        self._target = target
        self._max_message_bytes = max_message_bytes
        self._connect_timeout = connect_timeout
        self._tls = tls
        self._options = options
        self._resolver = resolver
        self._set = _balancing.BackendSet(target, options)
        self._connect_locks = {}  # Backend -> asyncio.Lock, held while connecting it.
        self._connections = []  # Every connection not known closed, for close().
        self._tasks = set()  # Reconnect tasks running.
        self._maintainer = None
        self._changed = None  # asyncio.Event, made on the loop: wakes the maintainer.
        self._resolving = None  # asyncio.Lock: one resolution at a time.
        self._closed = False

    async def unary_call(self, method, request, timeout, metadata):
        call = await self._start(method, CallKind.UNARY, request, timeout, metadata)
        return await call.read()

    async def open_stream(self, method, kind, request, requests, timeout, metadata):
        call = await self._start(method, kind, request, timeout, metadata)
        if kind.client_streams:
            call.sender = asyncio.get_running_loop().create_task(call.send_requests(requests))
        return call

    async def close(self):
        self._closed = True
        self._wake()
        connections, self._connections = self._connections, []
        for connection in connections:
            await connection.close()
        tasks = list(self._tasks) + ([self._maintainer] if self._maintainer else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # Picking and connecting.

    async def _start(self, method, kind, request, timeout, metadata):
        """The started call (REQUEST written) on the next backend in turn;
        a unary call whose GOAWAY said it was not processed is started
        again on another backend (the caller's read() then awaits that)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        tried, last_error = [], ""
        while True:
            backend, connection = await self._connection_for_call(deadline, tried, last_error)
            try:
                call = await connection.start_call(method, kind, request, deadline, metadata)
            except _ConnectionRetired:
                last_error = connection.close_message or "the connection went away"
                continue
            except RpcError as error:
                # As BalancedRawTransport._closed_before_taking.
                if error.code != StatusCode.UNAVAILABLE or not connection.closed:
                    raise
                self._set.eject(backend, error.message, self._now())
                self._wake()
                last_error = error.message
                continue
            if kind != CallKind.UNARY:
                return call
            # A unary call: wait here, so that an unsent one can be retried.
            try:
                await call.wait_done()
            except asyncio.CancelledError:
                call.cancel()
                raise
            if call.outcome.unsent:
                last_error = f"{backend.target.host_port}: {call.outcome.message}"
                continue
            return call

    async def _connection_for_call(self, deadline, tried, last_error):
        """As BalancedRawTransport._connection_for_call."""
        self._start_maintenance()
        resolved_in_this_call = False
        while True:
            if self._closed:
                raise RpcError(StatusCode.CANCELLED, "the client is closed")
            backend = self._set.pick(tried)
            if backend is None:
                if self._target.dns and not resolved_in_this_call and (
                        self._set.resolved_at is None or self._set.all_ejected()):
                    await self._resolve()
                    resolved_in_this_call = True
                    continue
                raise self._set.no_backend_error(last_error)
            tried.append(backend)
            connection = self._usable(backend)
            if connection is not None:
                return backend, connection
            lock = self._connect_locks.setdefault(backend, asyncio.Lock())
            try:
                async with lock:
                    return backend, await self._connect(backend, deadline)
            except RpcError as error:
                if error.code != StatusCode.UNAVAILABLE:
                    raise
                last_error = error.message

    def _usable(self, backend):
        connection = backend.connection
        if connection is None:
            return None
        if connection.accepting_calls:
            return connection
        backend.connection = None
        if connection.failed_with_calls or not connection.closed:
            self._set.eject(backend, connection.close_message or "GOAWAY", self._now())
        return None

    async def _connect(self, backend, deadline):
        if backend.connection is not None and backend.connection.accepting_calls:
            return backend.connection
        try:
            connection = await self._new_connection(backend, deadline)
        except RpcError as error:
            if error.code == StatusCode.UNAVAILABLE:
                self._set.eject(backend, error.message, self._now())
                self._wake()
            raise
        if self._closed:
            await connection.close()
            raise RpcError(StatusCode.CANCELLED, "the client is closed")
        backend.connection = connection
        backend.backoff.reset()
        self._connections.append(connection)
        return connection

    async def _new_connection(self, backend, deadline):
        reader, writer = await open_streams(backend.target, self._tls, self._connect_timeout,
                                            deadline)
        return AioRawConnection(reader, writer, self._max_message_bytes, self._connect_timeout,
                                tls_hostname=self._tls[1] if self._tls is not None else "",
                                listener=lambda connection, event: self._on_event(
                                    backend, connection, event))

    def _on_event(self, backend, connection, event):
        if event == "closed":
            self._connections = [c for c in self._connections if c is not connection]
        if backend.connection is not connection:
            return
        if event == "goaway" or connection.failed_with_calls:
            self._set.eject(backend, connection.close_message or "GOAWAY", self._now())
            self._wake()
        if event == "closed":
            backend.connection = None

    async def _resolve(self):
        if self._resolving is None:
            self._resolving = asyncio.Lock()
        async with self._resolving:
            try:
                addresses = await self._resolver(self._target.socket_host, self._target.port)
            except RpcError as error:
                self._set.resolve_failed(error.message, self._now())
                return
            dropped = self._set.update_addresses(addresses, self._now())
            for backend in dropped:
                self._connect_locks.pop(backend, None)
        self._wake()
        for backend in dropped:
            if backend.connection is not None:
                await backend.connection.close("the backend left the DNS answer")

    # The maintenance task.

    @staticmethod
    def _now():
        return asyncio.get_running_loop().time()

    def _wake(self):
        if self._changed is not None:
            self._changed.set()

    def _start_maintenance(self):
        if self._maintainer is None and not self._closed:
            self._changed = asyncio.Event()
            self._maintainer = asyncio.get_running_loop().create_task(self._maintain())

    async def _maintain(self):
        options = self._options
        while not self._closed:
            now = self._now()
            wake_at = now + options.health_check_interval
            for backend in list(self._set.backends):
                connection = backend.connection
                if connection is None or backend.ejected:
                    continue
                if connection.ping_sent_at is not None:
                    if now - connection.ping_sent_at >= options.health_check_timeout:
                        self._set.eject(backend, "health check failed: no PONG within "
                                        f"{options.health_check_timeout:g} s", now)
                        connection.fail(backend.last_error)
                    else:
                        wake_at = min(wake_at,
                                      connection.ping_sent_at + options.health_check_timeout)
                elif now - connection.last_read_at >= options.health_check_interval:
                    connection.send_health_ping()
                    wake_at = min(wake_at, now + options.health_check_timeout)
                else:
                    wake_at = min(wake_at,
                                  connection.last_read_at + options.health_check_interval)
            for backend in self._set.due_for_reconnect(now):
                task = asyncio.get_running_loop().create_task(self._reconnect(backend))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            reconnect_at = self._set.next_reconnect_at()
            if reconnect_at is not None:
                wake_at = min(wake_at, reconnect_at)
            if self._target.dns:
                if self._set.dns_due(now) and self._set.resolved_at is not None:
                    await self._resolve()
                    continue
                wake_at = min(wake_at, (self._set.resolved_at or now)
                              + options.dns_refresh_interval)
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), max(0.0, wake_at - self._now()))
            except asyncio.TimeoutError:
                pass

    async def _reconnect(self, backend):
        lock = self._connect_locks.setdefault(backend, asyncio.Lock())
        async with lock:
            try:
                connection = await self._new_connection(backend, None)
                if not await connection.wait_for_preface(self._connect_timeout):
                    message = connection.close_message or \
                        f"no preface from {backend.target.host_port} within " \
                        f"{self._connect_timeout:g} s"
                    await connection.close(message)
                    raise RpcError(StatusCode.UNAVAILABLE, message)
            except RpcError as error:
                self._set.reconnect_failed(backend, error.message, self._now())
                self._wake()
                return
            if self._closed or backend not in self._set.backends:
                await connection.close()
                return
            self._set.reconnected(backend, connection)
            self._connections.append(connection)
            self._wake()
