from typing import Any, Optional

from fastseg._addr import Address
from fastseg.segment import Segment

__all__ = ["pack", "pack_into", "unpack"]

def unpack(data: object, *, strict: bool = True) -> Segment: ...
def pack(segment: Segment, *, src: Optional[Address] = None, dst: Optional[Address] = None) -> bytes: ...
def pack_into(
    buffer: Any, offset: int, segment: Segment, *,
    src: Optional[Address] = None, dst: Optional[Address] = None,
) -> int: ...
