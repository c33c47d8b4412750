from typing import Any

__all__ = ["Record", "decode", "empty", "encode", "plain_checksum"]

class Record:
    src_port: int
    dst_port: int
    seq: int
    ack: int
    header_len: int
    flags: int
    window: int
    checksum: int
    urgent: int
    options: tuple[Any, ...]
    payload: bytes

def decode(data: bytes) -> Record: ...
def encode(fields: tuple[Any, ...], src: bytes, dst: bytes) -> bytes: ...
def plain_checksum(data: bytes) -> int: ...
def empty(a: object, b: object) -> None: ...
