"""Client-side balancing over raw:// backends (issue 13's decision D2), the
part that does no I/O: options, connection backoff, DNS answers and the
round-robin table with its ejections. dualrpc._raw_balancer (threads) and
dualrpc.aio._raw_balancer (asyncio) drive it with their own connections,
so both behave the same.

Not thread-safe: its owner serializes every use (a lock, or one loop).
Times are the owner's monotonic clock, passed in as `now`.
"""

import dataclasses
import random
import socket
from typing import Callable, List, Optional, Sequence, Tuple

from ._target import Target, endpoint
from .status import RpcError, StatusCode

DEFAULT_HEALTH_CHECK_INTERVAL_SECONDS = 5.0
DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS = 2.0
# gRPC's connection-backoff parameters (doc/connection-backoff.md).
DEFAULT_BACKOFF_INITIAL_SECONDS = 1.0
DEFAULT_BACKOFF_MULTIPLIER = 1.6
DEFAULT_BACKOFF_JITTER = 0.2
DEFAULT_BACKOFF_MAX_SECONDS = 120.0
DEFAULT_DNS_REFRESH_SECONDS = 30.0

Address = Tuple[str, int]  # (host as a target writes it: IPv6 in brackets, port)


@dataclasses.dataclass(frozen=True)
class BalancingOptions:
    """connect()'s balancing keyword arguments (README.md); seconds."""
    health_check_interval: float = DEFAULT_HEALTH_CHECK_INTERVAL_SECONDS
    health_check_timeout: float = DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS
    backoff_initial: float = DEFAULT_BACKOFF_INITIAL_SECONDS
    backoff_multiplier: float = DEFAULT_BACKOFF_MULTIPLIER
    backoff_jitter: float = DEFAULT_BACKOFF_JITTER
    backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS
    dns_refresh_interval: float = DEFAULT_DNS_REFRESH_SECONDS

    def checked(self):
        """self, or ValueError naming the first bad option."""
        for name in ("health_check_interval", "health_check_timeout", "backoff_initial",
                     "backoff_max", "dns_refresh_interval"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if not isinstance(self.backoff_multiplier, (int, float)) or self.backoff_multiplier < 1:
            raise ValueError("backoff_multiplier must be at least 1")
        if not isinstance(self.backoff_jitter, (int, float)) or not 0 <= self.backoff_jitter < 1:
            raise ValueError("backoff_jitter must be in [0, 1)")
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must not be less than backoff_initial")
        return self


class Backoff:
    """Delays between connection attempts: initial, then ×multiplier up to
    max, each spread by ±jitter; reset() after a successful connect."""

    def __init__(self, options: BalancingOptions, uniform: Callable[[], float] = random.random):
        self._options = options
        self._uniform = uniform  # [0, 1)
        self._current = options.backoff_initial

    def next_delay(self) -> float:
        jitter = self._options.backoff_jitter * (2 * self._uniform() - 1)
        delay = self._current * (1 + jitter)
        self._current = min(self._current * self._options.backoff_multiplier,
                            self._options.backoff_max)
        return delay

    def reset(self) -> None:
        self._current = self._options.backoff_initial


def addresses_of(infos) -> List[Address]:
    """getaddrinfo's answers as (host, port), deduplicated, in order."""
    seen = []
    for family, _type, _proto, _name, sockaddr in infos:
        host = f"[{sockaddr[0]}]" if family == socket.AF_INET6 else sockaddr[0]
        if (host, sockaddr[1]) not in seen:
            seen.append((host, sockaddr[1]))
    return seen


def resolve(name: str, port: int) -> List[Address]:
    """Every A/AAAA address of `name` (blocking getaddrinfo); RpcError
    UNAVAILABLE when it cannot be resolved."""
    try:
        return addresses_of(socket.getaddrinfo(name, port, type=socket.SOCK_STREAM))
    except OSError as error:
        raise RpcError(StatusCode.UNAVAILABLE,
                       f"cannot resolve {name}: {error.strerror or error}") from None


class Backend:
    """One address of a balanced target. Its owner (the balancer) reads and
    writes every field under its own serialization."""

    def __init__(self, target: Target, options: BalancingOptions):
        self.target = target  # Single-address.
        self.connection = None  # Where new calls go (the transport's kind), or None.
        self.ejected = False  # Not picked while True.
        self.retry_at = 0.0  # While ejected: when to try connecting again.
        self.reconnecting = False  # A reconnect attempt is running.
        self.backoff = Backoff(options)
        self.last_error = ""

    @property
    def address(self) -> Address:
        return self.target.addresses[0]

    def __repr__(self):
        return f"Backend({self.target.host_port}, ejected={self.ejected})"


class BackendSet:
    """The backends of one balanced target and the round-robin over them."""

    def __init__(self, target: Target, options: BalancingOptions):
        self._target = target
        self._options = options
        self.backends: List[Backend] = [] if target.dns else \
            [Backend(single, options) for single in target.endpoints()]
        self._next = 0
        self.resolved_at: Optional[float] = None  # dns: when last resolved.
        self.resolve_error = ""

    def pick(self, exclude: Sequence[Backend] = ()) -> Optional[Backend]:
        """The next backend in turn that is not ejected and not in `exclude`."""
        count = len(self.backends)
        for step in range(count):
            backend = self.backends[(self._next + step) % count]
            if not backend.ejected and backend not in exclude:
                self._next = (self._next + step + 1) % count
                return backend
        return None

    def eject(self, backend: Backend, error: str, now: float) -> None:
        """Not picked again until reconnected, tried after the next backoff."""
        if not backend.ejected:
            backend.ejected = True
            backend.retry_at = now + backend.backoff.next_delay()
        backend.last_error = error or backend.last_error

    def reconnect_failed(self, backend: Backend, error: str, now: float) -> None:
        backend.reconnecting = False
        backend.retry_at = now + backend.backoff.next_delay()
        backend.last_error = error

    def reconnected(self, backend: Backend, connection) -> None:
        backend.reconnecting = False
        backend.ejected = False
        backend.connection = connection
        backend.backoff.reset()

    def due_for_reconnect(self, now: float) -> List[Backend]:
        """Ejected backends whose backoff ran out; marked as reconnecting."""
        due = [b for b in self.backends if b.ejected and not b.reconnecting and b.retry_at <= now]
        for backend in due:
            backend.reconnecting = True
        return due

    def next_reconnect_at(self) -> Optional[float]:
        times = [b.retry_at for b in self.backends if b.ejected and not b.reconnecting]
        return min(times) if times else None

    def ejected_count(self) -> int:
        return sum(1 for backend in self.backends if backend.ejected)

    def all_ejected(self) -> bool:
        return all(backend.ejected for backend in self.backends)

    def dns_due(self, now: float) -> bool:
        if not self._target.dns:
            return False
        return self.resolved_at is None or \
            now - self.resolved_at >= self._options.dns_refresh_interval

    def update_addresses(self, addresses: Sequence[Address], now: float) -> List[Backend]:
        """A DNS answer: keeps the backends still named (with their state),
        adds new ones; returns the dropped ones, whose connections the
        caller closes."""
        self.resolved_at = now
        self.resolve_error = ""
        kept = {backend.address: backend for backend in self.backends}
        self.backends = [kept.pop(address, None) or
                         Backend(endpoint(self._target, *address), self._options)
                         for address in addresses]
        self._next %= max(1, len(self.backends))
        return list(kept.values())

    def resolve_failed(self, error: str, now: float) -> None:
        self.resolved_at = now
        self.resolve_error = error

    def no_backend_error(self, last_error: str) -> RpcError:
        """UNAVAILABLE `no raw backend is available (N ejected): <last error>`."""
        error = last_error or next((b.last_error for b in self.backends if b.last_error), "") \
            or self.resolve_error or f"{self._target.host} has no address"
        return RpcError(StatusCode.UNAVAILABLE,
                        f"no raw backend is available ({self.ejected_count()} ejected): {error}")
