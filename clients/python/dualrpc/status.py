"""Status codes and the one exception every failed call raises.

The codes are gRPC's, by name and number (docs/PROTOCOL.md §6.1), so a call
fails with the same code over grpc:// and raw://.
"""

import enum
from typing import Iterable, Tuple, Union


class StatusCode(enum.IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    @classmethod
    def from_number(cls, number: int) -> "StatusCode":
        """The code for a wire number; numbers outside 0..16 are UNKNOWN (§6.1)."""
        try:
            return cls(number)
        except ValueError:
            return cls.UNKNOWN


class RpcError(Exception):
    """A call that did not return OK.

    `code` is a StatusCode, `message` the server's (or this client's) text,
    `trailing_metadata` the response metadata as (key, value) pairs: values
    are bytes for keys ending in "-bin", str otherwise.
    """

    def __init__(self, code: StatusCode, message: str = "",
                 trailing_metadata: Iterable[Tuple[str, Union[str, bytes]]] = ()) -> None:
        super().__init__(f"{code.name}: {message}" if message else code.name)
        self.code = code
        self.message = message
        self.trailing_metadata = tuple(trailing_metadata)
