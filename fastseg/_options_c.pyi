from typing import Any, Optional

from fastseg._enums import Option
from fastseg.errors import Anomaly

__all__ = ["decode", "pack_option"]

def decode(header: bytes, strict: bool = True) -> tuple[tuple[Option, ...], tuple[Anomaly, ...]]: ...
def pack_option(option: Any) -> Optional[bytes]: ...
