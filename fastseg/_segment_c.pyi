from typing import Any, NoReturn, Optional

from typing_extensions import disjoint_base

__all__ = [
    "EAGER", "SegmentBase", "SegmentCore", "SegmentSlots", "adopt", "adopted", "build", "new",
    "replace",
]

EAGER: tuple[str, ...]

@disjoint_base
class SegmentBase:
    @property
    def options(self) -> Any: ...
    @property
    def payload(self) -> Any: ...
    def __setattr__(self, name: str, value: Any, /) -> NoReturn: ...
    def __delattr__(self, name: str, /) -> NoReturn: ...

class SegmentSlots(SegmentBase):
    __slots__ = (
        "ack",
        "anomalies",
        "checksum",
        "dst_port",
        "flags",
        "header_len",
        "reserved",
        "seq",
        "src_port",
        "urgent",
        "window",
    )
    src_port: Any
    dst_port: Any
    seq: Any
    ack: Any
    header_len: Any
    flags: Any
    reserved: Any
    window: Any
    checksum: Any
    urgent: Any
    anomalies: Any

class SegmentCore(SegmentSlots):
    def __new__(
        cls, src_port: Any = 0, dst_port: Any = 0, seq: Any = 0, ack: Any = 0,
        header_len: Any = None, flags: Any = 0, reserved: Any = 0, window: Any = 0xFFFF,
        checksum: Any = 0, urgent: Any = 0, options: Any = (), payload: Any = b"",
        anomalies: Any = (),
    ) -> Any: ...

def adopt(cls: type) -> None: ...
def adopted() -> Optional[type]: ...
def new(
    cls: type, src_port: Any, dst_port: Any, seq: Any, ack: Any, header_len: Any, flags: Any,
    reserved: Any, window: Any, checksum: Any, urgent: Any, options: Any, payload: Any,
    anomalies: Any,
) -> Any: ...
def build(
    cls: type, src_port: Any = 0, dst_port: Any = 0, seq: Any = 0, ack: Any = 0,
    header_len: Any = None, flags: Any = 0, reserved: Any = 0, window: Any = 0xFFFF,
    checksum: Any = 0, urgent: Any = 0, options: Any = (), payload: Any = b"", anomalies: Any = (),
) -> Any: ...
def replace(segment: Any, **changes: Any) -> Any: ...
