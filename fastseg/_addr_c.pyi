from typing import Optional

__all__ = ["parse"]

def parse(text: str) -> Optional[bytes]: ...
