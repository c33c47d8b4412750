from typing import Callable, List, Optional, Tuple

from typing_extensions import disjoint_base

from fastseg.analyze.tracker import ConnectionTracker, Endpoint, TrackedConnection
from fastseg.capture._common import TcpRecord

__all__ = ["Flow", "ScriptTracker"]

@disjoint_base
class Flow:
    @property
    def index(self) -> int: ...
    end: float
    clock: float
    @property
    def finished(self) -> bool: ...
    def records(self) -> List[Tuple[Endpoint, TcpRecord]]: ...
    def replayed(self) -> TrackedConnection: ...
    def finish(self) -> TrackedConnection: ...

@disjoint_base
class ScriptTracker:
    @property
    def taken(self) -> int: ...
    frame_base: int
    tick: Optional[Callable[[], None]]
    def __init__(self, tracker: ConnectionTracker, released: Optional[Callable[[], None]] = ...,
                 tick: Optional[Callable[[], None]] = ..., tick_every: int = ...,
                 kept_max: int = ...) -> None: ...
    def add(self, rec: TcpRecord) -> None: ...
