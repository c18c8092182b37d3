"""Targets, as the C++ client reads them (src/dualrpc/client/target.h; the
forms are issue 13's decision D1, the same in C++, the CLI, Python and Node):

  grpc://HOST:PORT or HOST:PORT            gRPC over TCP (HOST may be [IPv6])
  grpcs://HOST:PORT                        gRPC over TLS (ALPN h2)
  unix:///ABS/PATH or unix:REL/PATH        gRPC over a unix socket
  raw://HOST:PORT                          raw over TCP
  raws://HOST:PORT                         raw over TLS (ALPN dualrpc/1, docs/PROTOCOL.md)
  raw+unix:///ABS/PATH or raw+unix:REL/PATH  raw over a unix socket

Several servers, balanced round-robin by the client:

  grpc://H1:P1,H2:P2[,...] or H1:P1,H2:P2  gRPC; every HOST an IP literal of one family
  grpcs://H1:P1,H2:P2                      the same over TLS (certificate checked against H1)
  raw://H1:P1,H2:P2 and raws://...         raw; HOSTs may be names
  dns:///NAME:PORT and grpcs+dns:///...    gRPC over every address of NAME (gRPC's resolver)
  raw+dns:///NAME:PORT and raws+dns:///... raw over every address of NAME (re-resolved)

At most MAX_ADDRESSES addresses; duplicates are allowed (they weigh more).
A single raw://NAME:PORT stays one backend, connecting to the first of
NAME's addresses that answers; raw+dns:/// balances over all of them.
"""

import dataclasses
import ipaddress
import re
from typing import Tuple

# Each URI scheme: (transport, TLS, DNS).
SCHEMES = {"grpc": ("grpc", False, False), "grpcs": ("grpc", True, False),
           "raw": ("raw", False, False), "raws": ("raw", True, False),
           "dns": ("grpc", False, True), "grpcs+dns": ("grpc", True, True),
           "raw+dns": ("raw", False, True), "raws+dns": ("raw", True, True)}
# Addresses one list target may name (D1).
MAX_ADDRESSES = 64
_EXPECTED_FORM = ("expected HOST:PORT or grpc://HOST:PORT (gRPC), grpcs://HOST:PORT (gRPC over "
                  "TLS), raw://HOST:PORT (raw), raws://HOST:PORT (raw over TLS), each also with "
                  "a list H1:P1,H2:P2; dns:///NAME:PORT, grpcs+dns:///NAME:PORT, "
                  "raw+dns:///NAME:PORT, raws+dns:///NAME:PORT; "
                  "unix:///PATH or unix:PATH (gRPC on a unix socket), raw+unix:///PATH or "
                  "raw+unix:PATH (raw on a unix socket)")
GRPC_LIST_NEEDS_IP_LITERALS = ("a list of addresses on grpc:// must be IP literals of one "
                               "family; use dns:///NAME:PORT")
DNS_AUTHORITY_UNSUPPORTED = "DNS server authority is not supported"
# sockaddr_un.sun_path holds 108 bytes on Linux, the last one a NUL.
_MAX_UNIX_PATH_BYTES = 107
_HOST_NAME = re.compile(r"[A-Za-z0-9._-]+")


def _socket_host(host):
    return host[1:-1] if host.startswith("[") else host


@dataclasses.dataclass(frozen=True)
class Target:
    """A parsed target. host and port are the first (or only) address's;
    `addresses` holds every (host, port) in order, () for a unix socket."""
    scheme: str  # The transport: "grpc" or "raw" (grpcs:// is "grpc" with tls).
    host: str  # As written: an IPv6 literal keeps its brackets. Empty for unix.
    port: int  # 0 for unix.
    unix_path: str = ""  # A unix socket's path; empty for TCP.
    tls: bool = False  # grpcs:// and raws://: TLS over TCP (never on a unix socket).
    addresses: Tuple[Tuple[str, int], ...] = ()  # Every (host as written, port).
    dns: bool = False  # dns:/// forms: host is a name whose every address is a backend.

    @property
    def is_unix(self):
        return bool(self.unix_path)

    @property
    def balanced(self):
        """True for a list of several addresses or a dns:/// form: the
        client balances calls over several backends."""
        return self.dns or len(self.addresses) > 1

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
        return _socket_host(self.host)

    @property
    def grpc_target(self):
        """What grpcio is given: dns:///NAME:PORT unchanged, a list as
        gRPC's own ipv4:A:P,B:Q or ipv6:[A]:P,[B]:Q, else host_port."""
        if self.dns:
            return f"dns:///{self.host}:{self.port}"
        if len(self.addresses) > 1:
            family = "ipv6" if self.host.startswith("[") else "ipv4"
            return family + ":" + ",".join(f"{host}:{port}" for host, port in self.addresses)
        return self.host_port

    def endpoints(self):
        """One single-address Target per entry of `addresses` (duplicates
        kept), with this one's scheme and TLS."""
        return tuple(endpoint(self, host, port) for host, port in self.addresses)


def endpoint(target, host, port):
    """A single-address Target like `target` (scheme, TLS) for host:port;
    `host` as written (an IPv6 literal in brackets)."""
    return Target(target.scheme, host, port, tls=target.tls, addresses=((host, port),))


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


def _parse_address(uri, address):
    """(host as written, port) of one HOST:PORT; ValueError if malformed."""
    # rpartition: an IPv6 literal carries colons of its own, inside brackets.
    host, colon, port_text = address.rpartition(":")
    if not colon:
        raise _bad(uri, "no port")
    bracketed = host.startswith("[") and host.endswith("]")
    if not host or (bracketed and len(host) == 2):
        raise _bad(uri, "no host")
    if not bracketed and not _HOST_NAME.fullmatch(host):
        raise _bad(uri, "malformed host")
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or not 1 <= int(port_text) <= 65535:
        raise _bad(uri, "port must be a number in 1..65535")
    return host, int(port_text)


def _ip_family(host):
    """4 or 6 for an IP literal (IPv6 in brackets), None for a name."""
    try:
        return ipaddress.ip_address(_socket_host(host)).version
    except ValueError:
        return None


def _parse_addresses(uri, scheme, authority, tls):
    entries = authority.split(",")
    if len(entries) > MAX_ADDRESSES:
        raise _bad(uri, f"more than {MAX_ADDRESSES} addresses")
    if any(not entry for entry in entries):
        raise _bad(uri, "empty address in the list")
    addresses = tuple(_parse_address(uri, entry) for entry in entries)
    if scheme == "grpc" and len(addresses) > 1:
        families = {_ip_family(host) for host, _ in addresses}
        if None in families or len(families) != 1:
            raise _bad(uri, GRPC_LIST_NEEDS_IP_LITERALS)
    host, port = addresses[0]
    return Target(scheme, host, port, tls=tls, addresses=addresses)


def _parse_dns(uri, scheme, rest, tls):
    """rest: what follows "dns://": "/NAME:PORT" (the empty authority)."""
    authority, slash, name_port = rest.partition("/")
    if authority or not slash:
        raise _bad(uri, DNS_AUTHORITY_UNSUPPORTED)
    if "," in name_port:
        raise _bad(uri, "a dns target names one NAME:PORT")
    host, port = _parse_address(uri, name_port)
    return Target(scheme, host, port, tls=tls, addresses=((host, port),), dns=True)


def parse_target(uri):
    if uri.startswith("unix:"):
        return _parse_unix(uri, "grpc", uri)
    if uri.startswith("raw+unix:"):
        return _parse_unix(uri, "raw", uri[len("raw+"):])
    scheme, separator, authority = uri.partition("://")
    if not separator:
        # grpcurl's plain HOST:PORT is gRPC.
        return _parse_addresses(uri, "grpc", uri, False)
    if scheme not in SCHEMES:
        raise _bad(uri, f"unsupported scheme {scheme!r}")
    transport, tls, dns = SCHEMES[scheme]
    if dns:
        return _parse_dns(uri, transport, authority, tls)
    return _parse_addresses(uri, transport, authority, tls)
