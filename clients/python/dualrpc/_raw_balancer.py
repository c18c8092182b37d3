"""Balanced raw:// targets (issue 13's decision D2) with threads: raw://
and raws:// lists, raw+dns:/// and raws+dns:///.

BalancedRawTransport keeps one RawConnection per backend and picks a
backend per call, round-robin over those not ejected (_balancing.BackendSet
holds the table). A backend is ejected when connecting to it fails, when
its connection fails with calls waiting, when it sends GOAWAY, or when its
health check (a PING on a connection idle for health_check_interval, no
PONG within health_check_timeout) fails; it is tried again after a backoff
and picked again once connected. A call that never reached a server is
sent again on another backend, at most once per backend, within its
deadline.

Threads: callers pick under the transport's lock and connect a backend that
has no connection yet themselves, under that backend's connect lock (never
the transport's); one maintenance thread, started by the first call, runs
the health checks, starts reconnect attempts (a short-lived thread each,
so that one black-holed address delays no other) and re-resolves DNS.
Lock order: the transport's lock, then a connection's; a connection's
listener takes the transport's lock with no connection lock held, so no
connection is ever closed under the transport's lock.
"""

import threading
import time

from . import _balancing
from ._raw_transport import RawConnection, _ConnectionRetired, connect_socket
from .status import RpcError, StatusCode


class BalancedRawTransport:
    """Calls of every kind over several raw backends. Thread-safe.

    Same interface as RawTransport (unary_call, open_stream, close).
    """

    def __init__(self, target, max_message_bytes, connect_timeout, tls=None,
                 options=_balancing.BalancingOptions(), resolver=_balancing.resolve):
        """target: a balanced raw Target; tls as RawTransport's (the SNI name
        is the first host's or server_name, for every backend). resolver:
        (name, port) -> [(host, port)], raising RpcError; for tests."""
        self._target = target
        self._max_message_bytes = max_message_bytes
        self._connect_timeout = connect_timeout
        self._tls = tls
        self._options = options
        self._resolver = resolver
        self._lock = threading.Condition()  # Wakes the maintenance thread.
        # Guarded by _lock.
        self._set = _balancing.BackendSet(target, options)
        self._connect_locks = {}  # Backend -> threading.Lock, held while connecting it.
        self._connections = []  # Every connection not known closed, for close().
        self._maintainer = None
        self._closed = False
        self._resolve_lock = threading.Lock()  # One resolution at a time.

    # The calls.

    def unary_call(self, method, request, timeout, metadata):
        """As RawTransport.unary_call, on the next backend in turn."""
        deadline = None if timeout is None else time.monotonic() + timeout
        tried, last_error = [], ""
        while True:
            backend, connection = self._connection_for_call(deadline, tried, last_error)
            try:
                call_id, call = connection.start_call(method, request, deadline, metadata)
            except _ConnectionRetired:
                last_error = connection.close_message or "the connection went away"
                continue
            except RpcError as error:
                if not self._closed_before_taking(backend, connection, error):
                    raise
                last_error = error.message
                continue
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not call.wait(remaining) and connection.abandon(call_id):
                raise RpcError(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
            call.wait(None)
            outcome = call.outcome
            if outcome.unsent:
                last_error = f"{backend.target.host_port}: {outcome.message}"
                continue
            if outcome.code != StatusCode.OK:
                raise RpcError(outcome.code, outcome.message, outcome.trailing_metadata)
            return outcome.payload

    def open_stream(self, method, kind, request, requests, timeout, metadata):
        """As RawTransport.open_stream. Retried on another backend only while
        opening (connect failed, connection gone): once open, a stream is not."""
        deadline = None if timeout is None else time.monotonic() + timeout
        tried, last_error = [], ""
        while True:
            backend, connection = self._connection_for_call(deadline, tried, last_error)
            try:
                call = connection.start_stream(method, kind, request, deadline, metadata)
            except _ConnectionRetired:
                last_error = connection.close_message or "the connection went away"
                continue
            except RpcError as error:
                if not self._closed_before_taking(backend, connection, error):
                    raise
                last_error = error.message
                continue
            if kind.client_streams:
                threading.Thread(target=call.send_requests, args=(requests,),
                                 name=f"dualrpc-raw-sender-{call.call_id}", daemon=True).start()
            return call

    def close(self):
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
            self._lock.notify_all()
        for connection in connections:
            connection.close()
        if self._maintainer is not None and self._maintainer is not threading.current_thread():
            self._maintainer.join()

    def _closed_before_taking(self, backend, connection, error):
        """True if `error` (from start_call or start_stream) says the
        connection closed before it took the call (e.g. the server closed
        it before its preface): the backend is ejected, the call unsent."""
        if error.code != StatusCode.UNAVAILABLE or not connection.closed:
            return False
        with self._lock:
            self._set.eject(backend, error.message, time.monotonic())
            self._lock.notify_all()
        return True

    # Picking and connecting.

    def _connection_for_call(self, deadline, tried, last_error):
        """(backend, connection accepting calls) of the next backend in turn
        not in `tried` (to which it is added); connects it if needed.
        RpcError: CANCELLED once closed, DEADLINE_EXCEEDED, or UNAVAILABLE
        `no raw backend is available` when no backend is left to try."""
        self._start_maintenance()
        resolved_in_this_call = False
        while True:
            with self._lock:
                if self._closed:
                    raise RpcError(StatusCode.CANCELLED, "the client is closed")
                backend = self._set.pick(tried)
                if backend is None:
                    needs_resolve = self._target.dns and not resolved_in_this_call and (
                        self._set.resolved_at is None or self._set.all_ejected())
                    if not needs_resolve:
                        raise self._set.no_backend_error(last_error)
                else:
                    tried.append(backend)
                    connection = self._usable_locked(backend)
                    if connection is not None:
                        return backend, connection
                    connect_lock = self._connect_locks.setdefault(backend, threading.Lock())
            if backend is None:
                self._resolve()  # D2: at once when every backend is ejected.
                resolved_in_this_call = True
                continue
            try:
                with connect_lock:
                    return backend, self._connect(backend, deadline)
            except RpcError as error:
                if error.code != StatusCode.UNAVAILABLE:
                    raise
                last_error = error.message

    def _usable_locked(self, backend):
        """backend's connection if it takes calls; else None, ejecting the
        backend if that connection failed (or said GOAWAY)."""
        connection = backend.connection
        if connection is None:
            return None
        if connection.accepting_calls:
            return connection
        backend.connection = None
        if connection.failed_with_calls or not connection.closed:
            self._set.eject(backend, connection.close_message or "GOAWAY", time.monotonic())
        return None

    def _connect(self, backend, deadline):
        """A new connection to `backend` (the caller holds its connect lock),
        or the one another caller just made. A failure ejects the backend."""
        with self._lock:
            if backend.connection is not None and backend.connection.accepting_calls:
                return backend.connection
        try:
            connection = self._new_connection(backend, deadline)
        except RpcError as error:
            if error.code == StatusCode.UNAVAILABLE:
                with self._lock:
                    self._set.eject(backend, error.message, time.monotonic())
                    self._lock.notify_all()
            raise
        with self._lock:
            if self._closed:
                closed = True
            else:
                closed = False
                backend.connection = connection
                backend.backoff.reset()
                self._connections.append(connection)
        if closed:
            connection.close()
            raise RpcError(StatusCode.CANCELLED, "the client is closed")
        return connection

    def _new_connection(self, backend, deadline):
        sock = connect_socket(backend.target, self._tls, self._connect_timeout, deadline)
        return RawConnection(sock, self._max_message_bytes,
                             f"dualrpc-raw-{backend.target.host_port}", self._connect_timeout,
                             listener=lambda connection, event: self._on_event(
                                 backend, connection, event))

    def _on_event(self, backend, connection, event):
        """A connection's listener: a GOAWAY ejects its backend for new calls
        at once; a failure with calls waiting ejects it too."""
        with self._lock:
            if event == "closed":
                self._connections = [c for c in self._connections if c is not connection]
            if backend.connection is not connection:
                return
            if event == "goaway" or connection.failed_with_calls:
                self._set.eject(backend, connection.close_message or "GOAWAY",
                                time.monotonic())
                self._lock.notify_all()
            if event == "closed":
                backend.connection = None

    def _resolve(self):
        """Re-resolves a dns target: keeps the backends still named."""
        with self._resolve_lock:
            try:
                addresses = self._resolver(self._target.socket_host, self._target.port)
                error = None
            except RpcError as failure:
                addresses, error = None, failure.message
            with self._lock:
                if error is not None:
                    self._set.resolve_failed(error, time.monotonic())
                    return
                dropped = self._set.update_addresses(addresses, time.monotonic())
                for backend in dropped:
                    self._connect_locks.pop(backend, None)
                self._lock.notify_all()
        for backend in dropped:
            if backend.connection is not None:
                backend.connection.close("the backend left the DNS answer")

    # The maintenance thread.

    def _start_maintenance(self):
        with self._lock:
            if self._maintainer is not None or self._closed:
                return
            self._maintainer = threading.Thread(
                target=self._maintain, name=f"dualrpc-raw-balancer-{self._target.host_port}",
                daemon=True)
            self._maintainer.start()

    def _maintain(self):
        """Until close(): health checks, reconnects, DNS refresh; sleeps on
        the lock's condition until the next of them is due (or a change)."""
        options = self._options
        while True:
            failed, due, resolve = [], [], False
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic()
                wake_at = now + options.health_check_interval
                for backend in self._set.backends:
                    connection = backend.connection
                    if connection is None or backend.ejected:
                        continue
                    if connection.ping_sent_at is not None:
                        if now - connection.ping_sent_at >= options.health_check_timeout:
                            self._set.eject(backend, "health check failed: no PONG within "
                                            f"{options.health_check_timeout:g} s", now)
                            failed.append((backend, connection))
                        else:
                            wake_at = min(wake_at,
                                          connection.ping_sent_at + options.health_check_timeout)
                    elif now - connection.last_read_at >= options.health_check_interval:
                        connection.send_health_ping()
                        wake_at = min(wake_at, now + options.health_check_timeout)
                    else:
                        wake_at = min(wake_at,
                                      connection.last_read_at + options.health_check_interval)
                due = self._set.due_for_reconnect(now)
                reconnect_at = self._set.next_reconnect_at()
                if reconnect_at is not None:
                    wake_at = min(wake_at, reconnect_at)
                resolve = self._set.dns_due(now) and self._set.resolved_at is not None
                if self._target.dns:
                    wake_at = min(wake_at, (self._set.resolved_at or now)
                                  + options.dns_refresh_interval)
            for backend, connection in failed:
                connection.fail(backend.last_error)
            for backend in due:
                threading.Thread(target=self._reconnect, args=(backend,), daemon=True,
                                 name=f"dualrpc-raw-reconnect-{backend.target.host_port}").start()
            if resolve:
                self._resolve()
            with self._lock:
                if not self._closed and not failed and not due and not resolve:
                    self._lock.wait(max(0.0, wake_at - time.monotonic()))

    def _reconnect(self, backend):
        """One reconnect attempt of an ejected backend (its own thread)."""
        lock = None
        with self._lock:
            lock = self._connect_locks.setdefault(backend, threading.Lock())
        with lock:
            try:
                connection = self._new_connection(backend, None)
                # Up means answering: a stopped server's kernel still accepts.
                if not connection.wait_for_preface(self._connect_timeout):
                    message = connection.close_message or \
                        f"no preface from {backend.target.host_port} within " \
                        f"{self._connect_timeout:g} s"
                    connection.close(message)
                    raise RpcError(StatusCode.UNAVAILABLE, message)
            except RpcError as error:
                with self._lock:
                    self._set.reconnect_failed(backend, error.message, time.monotonic())
                    self._lock.notify_all()
                return
            with self._lock:
                closed = self._closed or backend not in self._set.backends
                if not closed:
                    self._set.reconnected(backend, connection)
                    self._connections.append(connection)
                    self._lock.notify_all()
        if closed:
            connection.close()
