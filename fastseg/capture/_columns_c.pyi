from typing import Any

from fastseg.capture._columns_py import Columns

__all__ = ["decode"]

def decode(buffer: Any, name: str = ...) -> Columns: ...
