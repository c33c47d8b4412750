"""The memory an in-process target holds: the objects reachable from it, and their sizes.

Modules, classes and functions are shared with the rest of the process and
are not counted, nor is anything reached only through them.  The walk is
bounded, so a target that holds a great deal stops it early (and is then
plainly over any baseline).
"""

from __future__ import annotations

import gc
import sys
import types
from typing import Any, List, Set

__all__ = ["MAX_OBJECTS", "held_bytes"]

#: The most objects one walk visits.
MAX_OBJECTS = 200_000
_SHARED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
           types.CodeType, types.FrameType)


def held_bytes(root: Any) -> int:
    """The bytes of the objects reachable from ``root`` (``sys.getsizeof``, each counted once)."""
    seen: Set[int] = {id(root)}
    stack: List[Any] = [root]
    total = 0
    while stack and len(seen) < MAX_OBJECTS:
        item = stack.pop()
        total += sys.getsizeof(item)
        for child in gc.get_referents(item):
            if id(child) not in seen and not isinstance(child, _SHARED):
                seen.add(id(child))
                stack.append(child)
    return total
