from typing import BinaryIO, Iterator, List

from typing_extensions import disjoint_base

from fastseg.capture._common import Record

__all__ = ["Reader"]

@disjoint_base
class Reader:
    name: str
    format: str
    frames: int
    cut_short: bool
    linktypes: List[int]
    def __init__(self, file: BinaryIO, *, name: str = ..., include_other: bool = ...,
                 chunk_size: int = ..., owns_file: bool = ...) -> None: ...
    def __iter__(self) -> Iterator[Record]: ...
    def __next__(self) -> Record: ...
    def close(self) -> None: ...
    def __enter__(self) -> Reader: ...
    def __exit__(self, *exc_info: object) -> None: ...
