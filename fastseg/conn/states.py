"""The eleven connection states of RFC 9293 §3.3.2 and the one table of legal transitions."""

from __future__ import annotations

import enum

__all__ = ["TRANSITIONS", "State", "StateError", "transition_table"]


class StateError(Exception):
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
        return self not in (State.CLOSED, State.LISTEN, State.SYN_SENT)


S = State

#: (state, cause) -> next state.  Causes: a user call (listen, connect, close,
#: abort), a segment (rcv_...), or a timer (timeout: retransmissions exhausted;
#: time_wait_expired: 2 MSL passed).  Nothing else may change a state.
TRANSITIONS: dict[tuple[State, str], State] = {
    (S.CLOSED, "listen"): S.LISTEN,
    (S.CLOSED, "connect"): S.SYN_SENT,
    (S.LISTEN, "rcv_syn"): S.SYN_RECEIVED,
    (S.LISTEN, "close"): S.CLOSED,
    (S.LISTEN, "abort"): S.CLOSED,
    (S.SYN_SENT, "rcv_syn_ack"): S.ESTABLISHED,
    (S.SYN_SENT, "rcv_syn"): S.SYN_RECEIVED,  # simultaneous open
    (S.SYN_SENT, "rcv_rst"): S.CLOSED,
    (S.SYN_SENT, "close"): S.CLOSED,
    (S.SYN_SENT, "abort"): S.CLOSED,
    (S.SYN_SENT, "timeout"): S.CLOSED,
    (S.SYN_RECEIVED, "rcv_ack_of_syn"): S.ESTABLISHED,
    (S.SYN_RECEIVED, "close"): S.FIN_WAIT_1,
    (S.SYN_RECEIVED, "rcv_rst"): S.CLOSED,
    (S.SYN_RECEIVED, "rcv_rst_passive"): S.LISTEN,  # RFC 9293 §3.10.7.4, second check
    (S.SYN_RECEIVED, "abort"): S.CLOSED,
    (S.SYN_RECEIVED, "timeout"): S.CLOSED,
    (S.ESTABLISHED, "close"): S.FIN_WAIT_1,
    (S.ESTABLISHED, "rcv_fin"): S.CLOSE_WAIT,
    (S.ESTABLISHED, "rcv_rst"): S.CLOSED,
    (S.ESTABLISHED, "abort"): S.CLOSED,
    (S.ESTABLISHED, "timeout"): S.CLOSED,
    (S.FIN_WAIT_1, "rcv_ack_of_fin"): S.FIN_WAIT_2,
    (S.FIN_WAIT_1, "rcv_fin"): S.CLOSING,  # simultaneous close
    (S.FIN_WAIT_1, "rcv_rst"): S.CLOSED,
    (S.FIN_WAIT_1, "abort"): S.CLOSED,
    (S.FIN_WAIT_1, "timeout"): S.CLOSED,
    (S.FIN_WAIT_2, "rcv_fin"): S.TIME_WAIT,
    (S.FIN_WAIT_2, "rcv_rst"): S.CLOSED,
    (S.FIN_WAIT_2, "abort"): S.CLOSED,
    (S.CLOSE_WAIT, "close"): S.LAST_ACK,
    (S.CLOSE_WAIT, "rcv_rst"): S.CLOSED,
    (S.CLOSE_WAIT, "abort"): S.CLOSED,
    (S.CLOSE_WAIT, "timeout"): S.CLOSED,
    (S.CLOSING, "rcv_ack_of_fin"): S.TIME_WAIT,
    (S.CLOSING, "rcv_rst"): S.CLOSED,
    (S.CLOSING, "abort"): S.CLOSED,
    (S.CLOSING, "timeout"): S.CLOSED,
    (S.LAST_ACK, "rcv_ack_of_fin"): S.CLOSED,  # the passive closer is done at once
    (S.LAST_ACK, "rcv_rst"): S.CLOSED,
    (S.LAST_ACK, "abort"): S.CLOSED,
    (S.LAST_ACK, "timeout"): S.CLOSED,
    (S.TIME_WAIT, "time_wait_expired"): S.CLOSED,
    (S.TIME_WAIT, "rcv_rst"): S.CLOSED,
    (S.TIME_WAIT, "abort"): S.CLOSED,
}


def transition_table() -> str:
    """The transitions as a Markdown table, one row per state (the README's state diagram)."""
    rows = ["| state | cause → next state |", "| --- | --- |"]
    for state in State:
        arcs = [f"{cause} → {new.value}" for (old, cause), new in TRANSITIONS.items() if old is state]
        rows.append(f"| {state.value} | {'; '.join(arcs)} |")
    return "\n".join(rows)
