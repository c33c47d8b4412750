from typing import Any, Optional

__all__ = ["parse"]

def parse(text: Any) -> Optional[bytes]: ...
