"""Target URIs: grpc://HOST:PORT and raw://HOST:PORT (HOST may be [IPv6])."""

import dataclasses
import re

SCHEMES = ("grpc", "raw")
_EXPECTED_FORM = "expected grpc://HOST:PORT or raw://HOST:PORT"


@dataclasses.dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # As written: an IPv6 literal keeps its brackets.
    port: int

    @property
    def host_port(self):
        return f"{self.host}:{self.port}"

    @property
    def socket_host(self):
        """The host as socket.create_connection takes it (no brackets)."""
        return self.host[1:-1] if self.host.startswith("[") else self.host


def _bad(uri, why):
    return ValueError(f"bad target {uri!r}: {why} ({_EXPECTED_FORM})")


def parse_target(uri):
    scheme, separator, authority = uri.partition("://")
    if not separator:
        raise _bad(uri, "no scheme")
    if scheme not in SCHEMES:
        raise _bad(uri, f"unsupported scheme {scheme!r}")
    # rpartition: an IPv6 literal carries colons of its own, inside brackets.
    host, colon, port_text = authority.rpartition(":")
    if not colon:
        raise _bad(uri, "no port")
    bracketed = host.startswith("[") and host.endswith("]")
    if not host or (bracketed and len(host) == 2):
        raise _bad(uri, "no host")
    if not bracketed and any(ch in host for ch in "[]:/"):
        raise _bad(uri, "malformed host")
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or not 1 <= int(port_text) <= 65535:
        raise _bad(uri, "port must be a number in 1..65535")
    return Target(scheme, host, int(port_text))
