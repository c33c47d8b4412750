"""In-process targets: any object with :class:`fastseg.conn.Host`'s interface.

``--target fastseg`` is ``fastseg.conn:Host``; ``--target MODULE:FACTORY``
imports ``MODULE`` and calls ``FACTORY(addresses)`` with a tuple of the
target's addresses as text.  The fuzzer plays the application above the
target: it listens on the service port, accepts, echoes what it reads and
closes after the peer's FIN, unless a campaign step tells it otherwise (stop
reading to close the window, close first, keep a half-closed connection).
Anything the target raises is a :class:`TargetCrash`, the crash oracle.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Protocol

from fastseg.conn.events import DataReceived, PeerFinished
from fastseg.conn.host import Datagram
from fastseg.errors import FastsegError
from fastseg.live.memory import held_bytes
from fastseg.segment import Segment

__all__ = ["CLOSED_PORT", "PEER_ADDRESS", "SERVICE_PORT", "TARGET_ADDRESS", "App", "InProcessTarget",
           "Target", "TargetCrash", "TargetError", "load_factory"]

#: The fuzzer's peer and the target, on a network of their own.
PEER_ADDRESS = "10.0.0.1"
TARGET_ADDRESS = "10.0.0.2"
#: The echo service's port, and a port nothing listens on.
SERVICE_PORT = 7
CLOSED_PORT = 9
#: The states in which the application may still send (RFC 9293 §3.10.2) and close (§3.10.4).
_SENDING = ("ESTABLISHED", "CLOSE-WAIT")
_CLOSABLE = ("SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT")

#: ``FACTORY(addresses)`` of an in-process target, or :class:`~fastseg.live.kernel.KernelTarget`.
Factory = Callable[..., Any]


class TargetError(FastsegError):
    """A target that cannot be set up: a bad ``MODULE:FACTORY``, a missing privilege."""


class TargetCrash(Exception):
    """The target raised (or produced a segment that cannot be encoded): the crash oracle."""


def load_factory(spec: str) -> Factory:
    """The factory named by ``spec``: ``fastseg`` or ``MODULE:FACTORY``; TargetError otherwise."""
    if spec == "fastseg":
        spec = "fastseg.conn:Host"
    module_name, colon, name = spec.partition(":")
    if not colon or not module_name or not name:
        raise TargetError(f"target {spec!r} is neither kernel, fastseg nor MODULE:FACTORY")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any import-time failure is a setup error
        raise TargetError(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise TargetError(f"{module_name} has no callable {name}")
    return factory  # type: ignore[no-any-return]


def state_name(conn: Any) -> str:
    """A connection's state as RFC 9293 spells it (an Enum's value, or the text itself)."""
    state = conn.state
    return str(getattr(state, "value", state))


class Target(Protocol):
    """What a campaign needs of a target, in process or the kernel."""

    apps: Dict[int, App]
    reading: bool
    close_on_fin: bool

    def receive(self, segment: Segment, now: float) -> None: ...
    def send_due(self, now: float) -> List[Datagram]: ...
    def deadline(self) -> Optional[float]: ...
    def timeout(self, now: float) -> None: ...
    def connection_count(self) -> int: ...
    def state(self, port: int) -> Optional[str]: ...
    def close_connection(self, port: int, now: float) -> None: ...
    def memory(self) -> Optional[int]: ...
    def counters(self) -> Dict[str, int]: ...
    def close(self) -> None: ...


@dataclass
class App:
    """The fuzzer's application on one accepted connection of the target."""

    conn: Any
    received: bytearray = field(default_factory=bytearray)
    echoed: int = 0
    closed: bool = False
    finished: bool = False


class InProcessTarget:
    """A target stack in this process, driven through ``Host``'s interface."""

    def __init__(self, factory: Factory) -> None:
        self.host = self._call("construction", factory, (TARGET_ADDRESS,))
        self.listener = self._call("listen", self.host.listen, (TARGET_ADDRESS, SERVICE_PORT))
        self.apps: Dict[int, App] = {}
        #: Whether the application reads (False lets the receive window close).
        self.reading = True
        #: Whether the application closes once the peer's FIN arrived.
        self.close_on_fin = True

    @staticmethod
    def _call(what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as exc:  # anything out of the target is the crash oracle's finding
            raise TargetCrash(f"{what} raised {type(exc).__name__}: {exc}") from exc

    def receive(self, segment: Segment, now: float) -> None:
        """Hand one segment from the peer to the target."""
        self._call("receive", self.host.receive, segment, now, src=PEER_ADDRESS, dst=TARGET_ADDRESS)

    def send_due(self, now: float) -> List[Datagram]:
        """Run the application, then take what the target has to send."""
        self.serve(now)
        return list(self._call("segments_to_send", self.host.segments_to_send, now))

    def deadline(self) -> Optional[float]:
        deadline = self._call("next_deadline", self.host.next_deadline)
        return None if deadline is None else float(deadline)

    def timeout(self, now: float) -> None:
        self._call("handle_timeout", self.host.handle_timeout, now)

    def connection_count(self) -> int:
        """How many connections the target holds (every state but CLOSED)."""
        return len(self._call("connections", lambda: self.host.connections))

    def state(self, port: int) -> Optional[str]:
        """The state of the target's connection with the peer's ``port``, None when it has none."""
        for conn in self._call("connections", lambda: self.host.connections):
            remote = getattr(conn, "remote", None)
            if remote is not None and remote[1] == port:
                name = state_name(conn)
                return None if name == "CLOSED" else name
        return None

    def close(self) -> None:
        """Nothing to tear down: the target goes with the last reference to it."""

    def memory(self) -> Optional[int]:
        """The bytes of the objects reachable from the target (:mod:`fastseg.live.memory`)."""
        return held_bytes(self.host)

    def counters(self) -> Dict[str, int]:
        """No counters: an in-process target's coverage is its answers."""
        return {}

    def close_connection(self, port: int, now: float) -> None:
        """The application closes its side of the connection with ``port``."""
        self.serve(now)
        app = self.apps.get(port)
        if app is not None and not app.closed and state_name(app.conn) in _CLOSABLE:
            app.closed = True
            self._call("close", app.conn.close, now)

    def serve(self, now: float) -> None:
        """Accept, read, echo and close as the echo service does."""
        while not getattr(self.listener, "closed", False):  # a target may close its listener
            conn = self._call("accept", self.listener.accept)
            if conn is None:
                break
            self.apps[conn.remote[1]] = App(conn)
        if not self.reading:
            return
        for app in self.apps.values():
            self._serve_one(app, now)

    def _serve_one(self, app: App, now: float) -> None:
        while True:
            event = self._call("next_event", app.conn.next_event)
            if event is None:
                break
            if isinstance(event, DataReceived):
                app.received += event.data
            elif isinstance(event, PeerFinished):
                app.finished = True
        state = state_name(app.conn)
        pending = len(app.received) - app.echoed
        if pending and not app.closed and state in _SENDING:
            app.echoed += self._call("send", app.conn.send, bytes(app.received[app.echoed:]))
        if app.finished and self.close_on_fin and not app.closed and state in _CLOSABLE \
                and app.echoed == len(app.received):
            app.closed = True
            self._call("close", app.conn.close, now)
