"""The eleven connection states of RFC 9293 §3.3.2 and the one table of legal transitions.

Each entry of :data:`TRANSITIONS` is an :class:`Edge`: the next state and the
entry actions that go with it (timers stopped and started, segments queued
or dropped, events raised), so that no caller has to remember them.  The
table also says which user calls are legal: ``listen``, ``connect``,
``send``, ``close`` and ``abort`` are allowed in a state exactly when it has
an entry for them there.  A cause that leaves the state as it is (``send``;
a retransmitted FIN in TIME-WAIT) is a loop: its actions run, and
``Connection.history`` records nothing.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from fastseg.conn.events import (
    Closed,
    Connected,
    ConnectionRefused,
    ConnectionReset,
    ConnectionTimedOut,
    Event,
)
from fastseg.errors import FastsegError

__all__ = ["TRANSITIONS", "Action", "Edge", "S", "State", "StateError", "transition_table"]


class StateError(FastsegError):
    """The local caller asked for something the connection's state does not allow."""


class State(enum.Enum):
    """Connection states, valued by their RFC spellings."""

    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN-SENT"
    SYN_RECEIVED = "SYN-RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN-WAIT-1"
    FIN_WAIT_2 = "FIN-WAIT-2"
    CLOSE_WAIT = "CLOSE-WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST-ACK"
    TIME_WAIT = "TIME-WAIT"

    @property
    def synchronized(self) -> bool:
        """Whether both sides' initial sequence numbers are known (RFC 9293 §3.5.2)."""
        return self not in _UNSYNCHRONIZED


class Action(enum.Enum):
    """What entering a state does besides, run in the order an edge lists them."""

    #: A fresh TCB (RFC 9293 §3.3.1): forget every variable of an earlier peer.
    NEW_TCB = "new TCB"
    #: Forget the remote endpoint learned in LISTEN (back to LISTEN, §3.10.7.4 second check).
    UNBIND = "unbind"
    #: Queue a FIN behind the data already taken (CLOSE, §3.10.4).
    QUEUE_FIN = "queue FIN"
    #: Send a reset from SND.NXT (ABORT of a synchronized connection, §3.10.5).
    SEND_RST = "send RST"
    #: Cancel every timer.
    STOP_TIMERS = "stop timers"
    #: Drop the queued segments but resets, and any pending ACK (the TCB is deleted).
    DISCARD = "discard output"
    #: Start the 2 MSL timer, or start it again (§3.10.7.4 eighth check, TIME-WAIT).
    START_2MSL = "start 2MSL"


class Edge(NamedTuple):
    """One entry of the table: the next state, its entry actions, the events it raises."""

    next: State
    actions: tuple[Action, ...] = ()
    events: tuple[type[Event], ...] = ()


class S:
    """The states as plain class attributes, for the connection's per-segment tests: on
    CPython 3.11 a member read through its Enum class goes through EnumType's __getattr__
    hook, some ten times an attribute read."""

    CLOSED = State.CLOSED
    LISTEN = State.LISTEN
    SYN_SENT = State.SYN_SENT
    SYN_RECEIVED = State.SYN_RECEIVED
    ESTABLISHED = State.ESTABLISHED
    FIN_WAIT_1 = State.FIN_WAIT_1
    FIN_WAIT_2 = State.FIN_WAIT_2
    CLOSE_WAIT = State.CLOSE_WAIT
    CLOSING = State.CLOSING
    LAST_ACK = State.LAST_ACK
    TIME_WAIT = State.TIME_WAIT


#: States before both initial sequence numbers are known (``State.synchronized``).
_UNSYNCHRONIZED = (S.CLOSED, S.LISTEN, S.SYN_SENT)
A = Action


def _closed(*events: type[Event], reset: bool = False) -> Edge:
    """An edge to CLOSED: the TCB goes (timers, queued output), ``events`` and then Closed."""
    actions = (A.SEND_RST,) if reset else ()
    return Edge(S.CLOSED, (*actions, A.STOP_TIMERS, A.DISCARD), (*events, Closed))


_ESTABLISHED = Edge(S.ESTABLISHED, events=(Connected,))
_TIME_WAIT = Edge(S.TIME_WAIT, (A.STOP_TIMERS, A.START_2MSL))

#: (state, cause) -> Edge.  Causes: a user call (listen, connect, send, close,
#: abort), a segment (rcv_...), or a timer (timeout: retransmissions exhausted, keep-alives
#: unanswered, or FIN-WAIT-2 idle past ``Config.fin_wait_2_timeout``; time_wait_expired: 2 MSL
#: passed).  Nothing else may change a state.
TRANSITIONS: dict[tuple[State, str], Edge] = {
    (S.CLOSED, "listen"): Edge(S.LISTEN, (A.NEW_TCB,)),
    (S.CLOSED, "connect"): Edge(S.SYN_SENT, (A.NEW_TCB,)),
    (S.LISTEN, "rcv_syn"): Edge(S.SYN_RECEIVED),
    (S.LISTEN, "close"): _closed(),
    (S.LISTEN, "abort"): _closed(),
    (S.SYN_SENT, "rcv_syn_ack"): _ESTABLISHED,
    (S.SYN_SENT, "rcv_syn"): Edge(S.SYN_RECEIVED),  # simultaneous open
    (S.SYN_SENT, "rcv_rst"): _closed(ConnectionRefused),
    (S.SYN_SENT, "send"): Edge(S.SYN_SENT),  # the data waits for the handshake
    (S.SYN_SENT, "close"): _closed(),
    (S.SYN_SENT, "abort"): _closed(),
    (S.SYN_SENT, "timeout"): _closed(ConnectionTimedOut),
    (S.SYN_RECEIVED, "rcv_ack_of_syn"): _ESTABLISHED,
    (S.SYN_RECEIVED, "send"): Edge(S.SYN_RECEIVED),
    (S.SYN_RECEIVED, "close"): Edge(S.FIN_WAIT_1, (A.QUEUE_FIN,)),
    (S.SYN_RECEIVED, "rcv_rst"): _closed(ConnectionRefused),  # opened actively: refused
    (S.SYN_RECEIVED, "rcv_rst_passive"): Edge(S.LISTEN, (A.NEW_TCB, A.UNBIND)),
    (S.SYN_RECEIVED, "abort"): _closed(reset=True),
    (S.SYN_RECEIVED, "timeout"): _closed(ConnectionTimedOut),
    (S.ESTABLISHED, "send"): Edge(S.ESTABLISHED),
    (S.ESTABLISHED, "close"): Edge(S.FIN_WAIT_1, (A.QUEUE_FIN,)),
    (S.ESTABLISHED, "rcv_fin"): Edge(S.CLOSE_WAIT),
    (S.ESTABLISHED, "rcv_rst"): _closed(ConnectionReset),
    (S.ESTABLISHED, "abort"): _closed(reset=True),
    (S.ESTABLISHED, "timeout"): _closed(ConnectionTimedOut),
    (S.FIN_WAIT_1, "rcv_ack_of_fin"): Edge(S.FIN_WAIT_2),
    (S.FIN_WAIT_1, "rcv_fin"): Edge(S.CLOSING),  # simultaneous close
    (S.FIN_WAIT_1, "rcv_rst"): _closed(ConnectionReset),
    (S.FIN_WAIT_1, "abort"): _closed(reset=True),
    (S.FIN_WAIT_1, "timeout"): _closed(ConnectionTimedOut),
    (S.FIN_WAIT_2, "rcv_fin"): _TIME_WAIT,
    (S.FIN_WAIT_2, "rcv_rst"): _closed(ConnectionReset),
    (S.FIN_WAIT_2, "abort"): _closed(reset=True),
    (S.FIN_WAIT_2, "timeout"): _closed(ConnectionTimedOut),  # the peer went away (Linux: orphans)
    (S.CLOSE_WAIT, "send"): Edge(S.CLOSE_WAIT),
    (S.CLOSE_WAIT, "close"): Edge(S.LAST_ACK, (A.QUEUE_FIN,)),
    (S.CLOSE_WAIT, "rcv_rst"): _closed(ConnectionReset),
    (S.CLOSE_WAIT, "abort"): _closed(reset=True),
    (S.CLOSE_WAIT, "timeout"): _closed(ConnectionTimedOut),
    (S.CLOSING, "rcv_ack_of_fin"): _TIME_WAIT,
    (S.CLOSING, "rcv_rst"): _closed(),
    (S.CLOSING, "abort"): _closed(),
    (S.CLOSING, "timeout"): _closed(ConnectionTimedOut),
    (S.LAST_ACK, "rcv_ack_of_fin"): _closed(),  # the passive closer is done at once
    (S.LAST_ACK, "rcv_rst"): _closed(),
    (S.LAST_ACK, "abort"): _closed(),
    (S.LAST_ACK, "timeout"): _closed(ConnectionTimedOut),
    (S.TIME_WAIT, "rcv_fin"): _TIME_WAIT,  # the FIN again, or any segment: ACK, restart 2 MSL
    (S.TIME_WAIT, "time_wait_expired"): _closed(),
    (S.TIME_WAIT, "rcv_rst"): _closed(),
    (S.TIME_WAIT, "abort"): _closed(),
}


def transition_table() -> str:
    """The transitions as a Markdown table, one row per edge (the README's state diagram)."""
    rows = ["| state | cause | next state | entry actions and events |", "| --- | --- | --- | --- |"]
    for (state, cause), edge in TRANSITIONS.items():
        effects = [action.value for action in edge.actions] + [event.__name__ for event in edge.events]
        rows.append(f"| {state.value} | {cause} | {edge.next.value} | {', '.join(effects)} |")
    return "\n".join(rows)
