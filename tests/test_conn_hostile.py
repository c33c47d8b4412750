"""The stateful two-connection test with a hostile link that also forges segments.

Besides losing, duplicating and reordering, the link injects segments from
fastseg.strategies.window_segments in every RFC 5961 / RFC 7323 category that
a correct TCP must refuse (in-window and out-of-window RSTs, SYNs, ACKs of
unsent or ancient data, stale timestamps, numbers 2**31 away).  The invariants
stay those of test_conn_stateful: no exception, legal states, delivered bytes
a prefix of the bytes sent, and everything delivered once the link turns
reliable: a forged segment that got accepted would break the last two.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule
from test_conn_stateful import TwoConnections

from fastseg.conn import State
from fastseg.strategies import WINDOW_CATEGORIES, window_segments

#: Forgeries a correct TCP refuses; an exact-match RST or in-window data are accepted by design.
REFUSED = tuple(c for c in WINDOW_CATEGORIES if c not in ("rst_exact", "data_in_window"))


class HostileLink(TwoConnections):
    @precondition(lambda self: hasattr(self, "a"))
    @rule(side=st.booleans(), category=st.sampled_from(REFUSED), data=st.data())
    def forge(self, side: bool, category: str, data: st.DataObject) -> None:
        target = self.a if side else self.b
        if target.state not in (State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2,
                                State.CLOSE_WAIT) or target.snd_nxt != target.snd_max:
            return
        if category == "stale_timestamp" and target.ts_recent is None:
            return
        forged = data.draw(window_segments(target, category, max_snd_wnd=target.max_snd_wnd,
                                           ts_recent=target.ts_recent), label=category)
        state = target.state
        target.receive(forged, self.now, remote_ip=self._peer(target).local[0])
        assert target.state is state, f"{category} changed {state.value} to {target.state.value}"


HostileLink.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
test_hostile_link = HostileLink.TestCase
