"""Request metadata: one validation for both transports (docs/PROTOCOL.md §4.4)."""

import collections.abc
import re

_KEY = re.compile(r"[0-9a-z_.-]+")
_RESERVED_PREFIXES = ("grpc-", "dualrpc-")
_BINARY_SUFFIX = "-bin"


def is_binary_key(key):
    return key.endswith(_BINARY_SUFFIX)


def _checked_value(key, value):
    if is_binary_key(key):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"metadata {key!r}: a -bin key takes bytes")
        return bytes(value)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("ascii", errors="replace")
    if not isinstance(value, str):
        raise TypeError(f"metadata {key!r}: value must be str")
    if not all(" " <= ch <= "~" for ch in value):
        raise ValueError(f"metadata {key!r}: value must be printable ASCII "
                         "(use a key ending in -bin for binary values)")
    return value


def normalize(metadata):
    """Returns ((key, value), ...) with str values, bytes for -bin keys.

    Accepts None, a mapping, or an iterable of (key, value) pairs (keys may
    repeat). Raises ValueError/TypeError for keys or values that gRPC would
    reject, before anything is sent, so both transports fail the same way.
    """
    if metadata is None:
        return ()
    pairs = metadata.items() if isinstance(metadata, collections.abc.Mapping) else metadata
    normalized = []
    for key, value in pairs:
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError(f"metadata key {key!r}: must be lower-case [0-9a-z_.-]+")
        if key.startswith(_RESERVED_PREFIXES):
            raise ValueError(f"metadata key {key!r}: the grpc- and dualrpc- prefixes are reserved")
        normalized.append((key, _checked_value(key, value)))
    return tuple(normalized)


def from_wire(key, value):
    """A received entry as the API shows it: bytes for -bin keys, str otherwise."""
    if is_binary_key(key):
        return key, bytes(value)
    return key, bytes(value).decode("latin-1") if not isinstance(value, str) else value


def bearer(token):
    """The `authorization: Bearer <token>` entry (the server's --auth_tokens)."""
    if not isinstance(token, str) or not token or not all("!" <= ch <= "~" for ch in token):
        raise ValueError("token must be a non-empty str of printable ASCII without spaces")
    return ("authorization", f"Bearer {token}")


def channel_defaults(metadata, token):
    """A channel's default metadata: normalized `metadata`, then the
    token's authorization entry (which replaces one in `metadata`)."""
    defaults = normalize(metadata)
    if token is None:
        return defaults
    entry = bearer(token)
    return tuple(pair for pair in defaults if pair[0] != entry[0]) + (entry,)


def merge(defaults, call_metadata):
    """What a call sends: the channel's `defaults` whose keys the call does
    not give itself, then the call's own entries (both normalized)."""
    if not defaults:
        return call_metadata
    own_keys = {key for key, _ in call_metadata}
    return tuple(pair for pair in defaults if pair[0] not in own_keys) + tuple(call_metadata)
