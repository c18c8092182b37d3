"""Targets, as the C++ client reads them (src/dualrpc/client/target.h):

  grpc://HOST:PORT or HOST:PORT            gRPC over TCP (HOST may be [IPv6])
  grpcs://HOST:PORT                        gRPC over TLS (ALPN h2)
  unix:///ABS/PATH or unix:REL/PATH        gRPC over a unix socket
  raw://HOST:PORT                          raw over TCP
  raws://HOST:PORT                         raw over TLS (ALPN dualrpc/1, docs/PROTOCOL.md)
  raw+unix:///ABS/PATH or raw+unix:REL/PATH  raw over a unix socket
"""

import dataclasses
import re

# Each URI scheme: (transport, TLS).
SCHEMES = {"grpc": ("grpc", False), "grpcs": ("grpc", True),
           "raw": ("raw", False), "raws": ("raw", True)}
_EXPECTED_FORM = ("expected HOST:PORT or grpc://HOST:PORT (gRPC), grpcs://HOST:PORT (gRPC over "
                  "TLS), raw://HOST:PORT (raw), raws://HOST:PORT (raw over TLS), "
                  "unix:///PATH or unix:PATH (gRPC on a unix socket), raw+unix:///PATH or "
                  "raw+unix:PATH (raw on a unix socket)")
# sockaddr_un.sun_path holds 108 bytes on Linux, the last one a NUL.
_MAX_UNIX_PATH_BYTES = 107
_HOST_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclasses.dataclass(frozen=True)
class Target:
    scheme: str  # The transport: "grpc" or "raw" (grpcs:// is "grpc" with tls).
    host: str  # As written: an IPv6 literal keeps its brackets. Empty for unix.
    port: int  # 0 for unix.
    unix_path: str = ""  # A unix socket's path; empty for TCP.
    tls: bool = False  # grpcs:// and raws://: TLS over TCP (never on a unix socket).

    @property
    def is_unix(self):
        return bool(self.unix_path)

    @property
    def host_port(self):
        """HOST:PORT, or for a unix socket gRPC's target for it ("unix:///abs",
        "unix:rel"), which grpc.insecure_channel takes as it is."""
        if self.is_unix:
            prefix = "unix://" if self.unix_path.startswith("/") else "unix:"
            return prefix + self.unix_path
        return f"{self.host}:{self.port}"

    @property
    def socket_host(self):
        """The host as socket.create_connection takes it (no brackets)."""
        return self.host[1:-1] if self.host.startswith("[") else self.host


def _bad(uri, why):
    return ValueError(f"bad target {uri!r}: {why} ({_EXPECTED_FORM})")


def _parse_unix(uri, scheme, unix_target):
    path = unix_target[len("unix:"):]
    if unix_target.startswith("unix://"):
        path = unix_target[len("unix://"):]
        if not path.startswith("/"):
            raise _bad(uri, "a unix target has no authority: unix:///ABS/PATH")
    if not path:
        raise _bad(uri, "no socket path")
    if "\0" in path or len(path.encode()) > _MAX_UNIX_PATH_BYTES:
        raise _bad(uri, f"socket path longer than {_MAX_UNIX_PATH_BYTES} bytes or holding NUL")
    return Target(scheme, "", 0, path)


def _parse_host_port(uri, scheme, authority, tls=False):
    # rpartition: an IPv6 literal carries colons of its own, inside brackets.
    host, colon, port_text = authority.rpartition(":")
    if not colon:
        raise _bad(uri, "no port")
    bracketed = host.startswith("[") and host.endswith("]")
    if not host or (bracketed and len(host) == 2):
        raise _bad(uri, "no host")
    if not bracketed and not _HOST_NAME.fullmatch(host):
        raise _bad(uri, "malformed host")
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or not 1 <= int(port_text) <= 65535:
        raise _bad(uri, "port must be a number in 1..65535")
    return Target(scheme, host, int(port_text), tls=tls)


def parse_target(uri):
    if uri.startswith("unix:"):
        return _parse_unix(uri, "grpc", uri)
    if uri.startswith("raw+unix:"):
        return _parse_unix(uri, "raw", uri[len("raw+"):])
    scheme, separator, authority = uri.partition("://")
    if not separator:
        # grpcurl's plain HOST:PORT is gRPC.
        return _parse_host_port(uri, "grpc", uri)
    if scheme not in SCHEMES:
        raise _bad(uri, f"unsupported scheme {scheme!r}")
    transport, tls = SCHEMES[scheme]
    return _parse_host_port(uri, transport, authority, tls)
