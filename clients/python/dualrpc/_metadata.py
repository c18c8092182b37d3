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
