from typing import Any, Optional

from fastseg.capture._columns_py import Columns

__all__ = ["CHUNK", "THREAD_MIN_BYTES", "decode"]

CHUNK: int
THREAD_MIN_BYTES: int

def decode(buffer: Any, name: str = ..., threads: Optional[int] = ..., *,
           chunk: int = ...) -> Columns: ...
