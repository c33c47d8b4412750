"""The one method that changes state, the entry actions it runs, and the legality of user calls.

Both read :data:`fastseg.conn.states.TRANSITIONS`; nothing else writes the state.
"""

from __future__ import annotations

from fastseg.conn.bits import RST
from fastseg.conn.retransmission import Retransmission
from fastseg.conn.states import TRANSITIONS, Action, StateError
from fastseg.conn.timers import TIME_WAIT

__all__ = ["StateMachine"]


class StateMachine(Retransmission):
    """Moves a connection along the table's edges."""

    def _check_call(self, call: str) -> None:
        """StateError unless the table has an edge for the user call ``call`` from here.

        Called first, so that a refused call changes nothing.
        """
        if (self._state, call) not in TRANSITIONS:
            note = " (close() was called)" if self._fin_queued else ""
            raise StateError(f"cannot {call}() in {self._state.value}{note}")

    def _transition(self, cause: str) -> None:
        """The one place that changes state: follow the table's edge, then run its entry actions."""
        edge = TRANSITIONS.get((self._state, cause))
        if edge is None:
            raise AssertionError(f"no transition from {self._state.value} on {cause}")
        if edge.next is not self._state:
            self._state = edge.next
            self.history.append(edge.next)
        for action in edge.actions:
            if action is Action.NEW_TCB:
                self._reset_tcb()
            elif action is Action.UNBIND:
                self.remote = None
            elif action is Action.QUEUE_FIN:
                self._fin_queued = True
            elif action is Action.SEND_RST:
                self._queue(self._segment(RST, self._snd_nxt, ack=False))
            elif action is Action.STOP_TIMERS:
                self._timers.clear()
            elif action is Action.DISCARD:
                self._outbox = [(s, d) for s, d in self._outbox if int(s.flags) & RST]
                self._ack_pending = False
            elif action is Action.START_2MSL:
                self._timers[TIME_WAIT] = self._now + 2 * self.config.msl
        for event in edge.events:
            self._events.append(event())
