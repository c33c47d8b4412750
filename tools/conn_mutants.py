"""The mutant gate of fastseg.conn: every deliberate defect below must fail the connection tests.

Each mutant names one defect in ``fastseg/conn/``: a file, an exact snippet
of its source, the replacement and the test that fails on it.  The gate
copies the repository (sources and tests only) into a temporary directory per
worker, checks that the copy is what gets imported (pure Python:
``FASTSEG_NO_EXTENSIONS=1``, the copy first on ``PYTHONPATH``, bytecode
checked against the source's hash, so no stale ``.pyc`` survives a swap) and
that ``TESTS`` pass on it unmutated, then applies one mutant at a time and
runs its named test (``pytest -x``: up to the first failure) against it,
``--jobs`` at once, each within ``--timeout`` seconds (running out of time
counts as killed: a hang is caught too).  When the named test passes, or none
is named, all of ``TESTS`` run and the test that killed the mutant is printed,
to be named; ``--full`` runs all of ``TESTS`` on every mutant.

It exits 1 naming every mutant that survived, and 2 when the list no longer
matches the source (a snippet not exactly once in its file, a mutant that is
not valid Python, a named test that does not exist: ``tests/test_conn_mutants.py``
checks that much in the suite) or when pytest could not run the tests on a
mutant (a collection error is no kill).

    python tools/conn_mutants.py            # every mutant, each on its named test
    python tools/conn_mutants.py paws_off   # only these
    python tools/conn_mutants.py --full     # every mutant on all of TESTS

Here (2 cores, quiet) the gate takes about 90 s, with ``--full`` about 6 min.
"""

from __future__ import annotations

import argparse
import compileall
import concurrent.futures
import os
import pathlib
import py_compile
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: The tests each mutant is run against: the connection's and the host's own, fast in pure
#: Python; the quick, pointed ones first (``pytest -x`` stops at the first failure).
CONN_TESTS = (
    "tests/test_conn_buffers.py",
    "tests/test_conn_states.py",
    "tests/test_conn_rfc.py",
    "tests/test_conn_behaviour.py",
    "tests/test_conn_sack.py",
    "tests/test_conn_syn_data.py",
    "tests/test_conn_late_fin_ack.py",
    "tests/test_conn_replay.py",
    "tests/test_conn_hostile.py",
    "tests/test_conn_prediction.py",
    "tests/test_conn_stateful.py",
    "tests/test_conn_ecn.py",
    "tests/test_conn_receive_window.py",
)
HOST_TESTS = ("tests/test_host.py", "tests/test_host_stateful.py")
TESTS = CONN_TESTS + HOST_TESTS
STATES = "fastseg/conn/states.py"
MACHINE = "fastseg/conn/machine.py"
ARRIVAL = "fastseg/conn/arrival.py"
RETRANSMISSION = "fastseg/conn/retransmission.py"
SENDING = "fastseg/conn/sending.py"
BUFFERS = "fastseg/conn/buffers.py"
RTT = "fastseg/conn/rtt.py"
CONNECTION = "fastseg/conn/connection.py"
HOST = "fastseg/conn/host.py"
PORTS = "fastseg/conn/ports.py"
COOKIES = "fastseg/conn/cookies.py"
TCB = "fastseg/conn/tcb.py"
RECOVERY = "fastseg/conn/recovery.py"
SCOREBOARD = "fastseg/conn/scoreboard.py"


class Mutant(NamedTuple):
    """One deliberate defect: ``before`` (exactly once in ``path``) becomes ``after``.

    ``killed_by`` names a test that fails on it, as ``file::function`` under tests/ (the
    first failure ``--full`` reports for it); without one the gate runs all of ``TESTS``.
    """

    name: str
    path: str
    before: str
    after: str
    killed_by: str = ""


MUTANTS = (
    # ---------------------------------------------------------------- entry actions
    Mutant("time_wait_segment_not_acked", ARRIVAL,
           "        elif self._state is S.TIME_WAIT:\n", "        elif False:\n",
           killed_by="test_conn_states.py::test_time_wait_acks_any_segment_and_restarts"),
    Mutant("time_wait_answers_a_bare_ack", ARRIVAL,
           "if segment.seg_len or segment.seq != self._rcv_nxt:", "if True:",
           killed_by="test_conn_states.py::test_time_wait_restarts_on_a_bare_ack_at_rcv_nxt_without_answering"),
    Mutant("time_wait_unacceptable_keeps_the_timer", ARRIVAL,
           "if self._state is S.TIME_WAIT and not flags & SYN:",
           "if self._state is S.TIME_WAIT and flags & FIN:",
           killed_by="test_conn_states.py::test_time_wait_acks_any_segment_and_restarts"),
    Mutant("time_wait_without_2msl", STATES,
           "_TIME_WAIT = Edge(S.TIME_WAIT, (A.STOP_TIMERS, A.START_2MSL))",
           "_TIME_WAIT = Edge(S.TIME_WAIT, (A.STOP_TIMERS,))",
           killed_by="test_conn_states.py::test_every_transition_is_reached"),
    Mutant("fin_again_keeps_2msl", STATES,
           '(S.TIME_WAIT, "rcv_fin"): _TIME_WAIT,',
           '(S.TIME_WAIT, "rcv_fin"): Edge(S.TIME_WAIT),',
           killed_by="test_conn_states.py::test_time_wait_reacks_retransmitted_fin_and_restarts"),
    Mutant("fin_again_ignored", ARRIVAL,
           '                if self._state is S.TIME_WAIT and not flags & SYN:\n'
           '                    self._transition("rcv_fin")  # as the fifth check does (below)\n',
           "",
           killed_by="test_conn_states.py::test_every_transition_is_reached"),
    Mutant("reset_not_reported", STATES,
           '(S.ESTABLISHED, "rcv_rst"): _closed(ConnectionReset),',
           '(S.ESTABLISHED, "rcv_rst"): _closed(),',
           killed_by="test_conn_states.py::test_exact_reset_resets"),
    Mutant("refusal_not_reported", STATES,
           '(S.SYN_SENT, "rcv_rst"): _closed(ConnectionRefused),',
           '(S.SYN_SENT, "rcv_rst"): _closed(),',
           killed_by="test_conn_states.py::test_connection_refused"),
    Mutant("timeout_not_reported", STATES,
           '(S.ESTABLISHED, "timeout"): _closed(ConnectionTimedOut),',
           '(S.ESTABLISHED, "timeout"): _closed(),',
           killed_by="test_conn_rfc.py::test_retransmissions_exhausted_in_established"),
    Mutant("closed_keeps_timers", STATES,
           "(*actions, A.STOP_TIMERS, A.DISCARD)", "(*actions, A.DISCARD)",
           killed_by="test_conn_states.py::test_table_only_legal_states"),
    Mutant("timers_not_cancelled", MACHINE,
           "self._timers.clear()", "pass",
           killed_by="test_conn_states.py::test_every_transition_is_reached"),
    Mutant("closed_keeps_output", MACHINE,
           "self._outbox = [(s, d) for s, d in self._outbox if int(s.flags) & RST]",
           "self._outbox = list(self._outbox)",
           killed_by="test_conn_rfc.py::test_close_in_syn_sent_sends_nothing"),
    Mutant("abort_sends_no_reset", STATES,
           "actions = (A.SEND_RST,) if reset else ()", "actions = ()",
           killed_by="test_conn_states.py::test_abort_sends_reset"),
    Mutant("loops_recorded_in_history", MACHINE,
           "if edge.next is not self._state:", "if True:",
           killed_by="test_conn_replay.py::test_replicas_follow_the_same_states_and_segments"),
    # ---------------------------------------------------------------- the checks of §3.10.7.4
    Mutant("acceptability_off_by_one", ARRIVAL,
           "acceptable = 0 <= start < window or 0 <= end < window",
           "acceptable = 0 <= start <= window or 0 <= end < window",
           killed_by="test_conn_rfc.py::test_acceptability_at_the_window_edges"),
    Mutant("empty_segment_window_off_by_one", ARRIVAL,
           "acceptable = start == 0 if window == 0 else 0 <= start < window",
           "acceptable = start == 0 if window == 0 else 0 <= start <= window",
           killed_by="test_conn_rfc.py::test_acceptability_at_the_window_edges"),
    Mutant("rst_anywhere_in_window", ARRIVAL,
           "        if segment.seq != self._rcv_nxt:\n"
           '            self._challenge("in-window RST not at RCV.NXT (challenge ACK)")\n        elif',
           "        if",
           killed_by="test_conn_states.py::test_in_window_reset_gets_challenge_ack"),
    Mutant("passive_open_not_back_to_listen", ARRIVAL,
           "elif self._state is S.SYN_RECEIVED and self._passive:",
           "elif False:",
           killed_by="test_conn_states.py::test_every_transition_is_reached"),
    Mutant("syn_not_challenged", ARRIVAL,
           '        self._challenge("SYN in a synchronized state (challenge ACK)")',
           '        self._reject("SYN in a synchronized state (challenge ACK)")',
           killed_by="test_conn_states.py::test_syn_in_established_gets_challenge_ack"),
    Mutant("segment_without_ack_taken", ARRIVAL,
           '        if not flags & ACK:\n            self._reject("no ACK bit")',
           '        if False:\n            self._reject("no ACK bit")',
           killed_by="test_conn_rfc.py::test_segment_without_ack_bit_is_dropped"),
    Mutant("ack_of_unsent_data_taken", ARRIVAL,
           "        if seq_gt(ack, self._snd_max):\n            self._ack_pending = True",
           "        if False:\n            self._ack_pending = True",
           killed_by="test_conn_replay.py::test_replica_checks_what_arrives_as_a_live_one"),
    Mutant("ancient_ack_taken", ARRIVAL,
           "if seq_lt(ack, seq_add(self._snd_una, -self._max_snd_wnd)):", "if False:",
           killed_by="test_conn_rfc.py::test_ack_older_than_max_window_is_challenged"),
    Mutant("fin_takes_no_sequence_number", ARRIVAL,
           "        self._rcv_nxt = seq_add(self._rcv_nxt, 1)\n        self._ack_pending = True\n"
           "        self._events.append(PeerFinished())",
           "        self._ack_pending = True\n        self._events.append(PeerFinished())",
           killed_by="test_conn_states.py::test_builders_reach_each_state"),
    Mutant("text_past_the_window", ARRIVAL,
           "data, fin = data[: max(room, 0)], False", "fin = False",
           killed_by="test_conn_states.py::test_zero_window_and_probe"),
    Mutant("paws_off", ARRIVAL,
           "if not seq_lt(stamps[0], self._ts_recent):", "if True:",
           killed_by="test_conn_states.py::test_paws_drops_old_timestamp"),
    Mutant("unstamped_segment_taken", ARRIVAL,
           '            self._reject("no timestamp option although timestamps are in use")\n'
           "            return True\n",
           "            return False\n",
           killed_by="test_conn_states.py::test_segment_without_timestamp_dropped_once_negotiated"),
    Mutant("early_data_taken_as_in_order", ARRIVAL,
           "if offset == 0 and held.empty:", "if held.empty:",
           killed_by="test_conn_states.py::test_out_of_order_and_duplicates_reassemble"),
    Mutant("waiting_fin_forgotten_by_fast_path", BUFFERS,
           "return not self._starts and self.fin_offset is None", "return not self._starts",
           killed_by="test_conn_rfc.py::test_fin_ahead_of_a_gap_counts_once_the_gap_fills"),
    Mutant("late_ack_of_fin_after_go_back_ignored", ARRIVAL,
           "fin_acked = self._fin_seq is not None and self._snd_una == seq_add(self._fin_seq, 1)",
           "fin_acked = self._fin_sent and self._snd_una == self._snd_max",
           killed_by="test_conn_late_fin_ack.py::test_a_late_ack_of_the_fin_after_a_timeout_closes"),
    Mutant("fin_takes_no_sequence_number_when_sent", SENDING,
           "len(payload) + (1 if flags & FIN else 0))", "len(payload))",
           killed_by="test_conn_states.py::test_builders_reach_each_state"),
    Mutant("data_events_not_merged", ARRIVAL,
           "        if events and type(events[-1]) is list:\n            events[-1].append(data)\n"
           "        else:\n            events.append([data])",
           "        events.append([data])",
           killed_by="test_conn_rfc.py::test_data_arriving_in_a_row_is_one_event"),
    # ---------------------------------------------------------------- header prediction
    Mutant("prediction_out_of_order", ARRIVAL,
           "seq != self._rcv_nxt or now < self._now", "now < self._now",
           killed_by="test_conn_states.py::test_out_of_order_and_duplicates_reassemble"),
    Mutant("prediction_past_the_window", ARRIVAL,
           "if len(data) > self.config.receive_buffer - self._unread - self._rcv_reserve \\\n"
           "                or not self._reassembly.empty:",
           "if not self._reassembly.empty:",
           killed_by="test_conn_states.py::test_zero_window_and_probe"),
    Mutant("prediction_takes_other_flags", ARRIVAL,
           "(flags != ACK and flags != ACK_PSH)", "(not flags & ACK)",
           killed_by="test_conn_states.py::test_builders_reach_each_state"),
    Mutant("prediction_without_paws", ARRIVAL,
           "if stamps is None or (stamps[0] - self._ts_recent) & U32 > SEQ_HALF:  # PAWS",
           "if stamps is None:",
           killed_by="test_conn_states.py::test_paws_drops_old_timestamp"),
    Mutant("prediction_takes_any_ack", ARRIVAL,
           "or (ack - una) & U32 > (self._snd_max - una) & U32:", ":",
           killed_by="test_conn_rfc.py::test_ack_older_than_max_window_is_challenged"),
    Mutant("prediction_takes_other_ports", ARRIVAL,
           "or remote is None or segment.src_port != remote[1] \\\n"
           "                or segment.dst_port != self.local[1] \\\n",
           "or remote is None \\\n",
           killed_by="test_conn_rfc.py::test_data_for_another_port_pair_is_not_taken"),
    Mutant("prediction_leaves_the_clock", ARRIVAL,
           "        self._now = now  # as _advance does", "        pass  # as _advance does",
           killed_by="test_conn_rfc.py::test_a_segment_taken_sets_the_clock"),
    Mutant("prediction_keeps_the_host_unaware", ARRIVAL,
           "            self._watch(self)\n        window = segment.window",
           "            pass\n        window = segment.window",
           killed_by="test_host.py::test_reading_a_full_window_sends_the_window_update_at_once"),
    Mutant("prediction_no_keepalive_restart", ARRIVAL,
           "        self._keepalive_restart(now)\n        return True", "        return True",
           killed_by="test_conn_behaviour.py::test_keepalives_probe_an_idle_peer_that_answers"),
    Mutant("prediction_ignores_the_window_update", ARRIVAL,
           "        self._update_send_window(seq, ack, window, now)\n        if stamps",
           "        if stamps",
           killed_by="test_conn_states.py::test_window_scale_and_mss_negotiated"),
    Mutant("max_snd_wnd_never_grows", ARRIVAL,
           "            if window > self._max_snd_wnd:  # max() is a call, and every data segment gets here\n"
           "                self._max_snd_wnd = window\n",
           "",
           killed_by="test_conn_rfc.py::test_max_snd_wnd_is_the_largest_window_offered"),
    Mutant("prediction_keeps_the_timestamp_age", ARRIVAL,
           "            self._ts_recent_time = now\n", "",
           killed_by="test_conn_behaviour.py::test_ts_recent_ages_from_the_last_timestamp_taken"),
    Mutant("prediction_never_acks", ARRIVAL,
           "            self._deliver(data)\n            self._count_for_ack(now)",
           "            self._deliver(data)",
           killed_by="test_conn_states.py::test_delayed_ack"),
    Mutant("prediction_counts_no_duplicate_ack", ARRIVAL,
           "        elif not data and window == self._snd_wnd and self._snd_max != una:\n"
           "            self._on_duplicate_ack()\n",
           "",
           killed_by="test_conn_behaviour.py::test_one_loss_is_repaired_by_fast_retransmit"),
    Mutant("prediction_ignores_held_data", ARRIVAL,
           " or not self._reassembly.empty:", ":",
           killed_by="test_conn_states.py::test_out_of_order_and_duplicates_reassemble"),
    Mutant("batch_times_a_resent_segment", SENDING,
           "if timed is None and end > sent_before:", "if timed is None:",
           killed_by="test_conn_rfc.py::test_resent_data_in_a_flight_is_not_timed"),
    Mutant("batch_times_its_last_segment", SENDING,
           "if timed is None and end > sent_before:\n                    timed = end",
           "if end > sent_before:\n                    timed = end",
           killed_by="test_conn_rfc.py::test_a_flight_times_its_first_segment"),
    Mutant("batch_segment_past_the_window", SENDING,
           "                if room < size:\n                    size = room\n", "",
           killed_by="test_conn_states.py::test_no_options_from_peer_means_no_scaling_no_timestamps"),
    Mutant("batch_segment_past_the_data", SENDING,
           "size = smss if smss < left else left", "size = smss",
           killed_by="test_conn_states.py::test_acks_stay_inside_a_zero_window_after_a_probe"),
    Mutant("batch_segment_shorter_than_the_mss", SENDING,
           "size = smss if smss < left else left", "size = left if smss < left else smss",
           killed_by="test_conn_states.py::test_window_scale_and_mss_negotiated"),
    # ---------------------------------------------------------------- legality of user calls
    Mutant("send_after_close_allowed", STATES,
           '    (S.FIN_WAIT_1, "rcv_ack_of_fin"): Edge(S.FIN_WAIT_2),',
           '    (S.FIN_WAIT_1, "send"): Edge(S.FIN_WAIT_1),\n'
           '    (S.FIN_WAIT_1, "rcv_ack_of_fin"): Edge(S.FIN_WAIT_2),',
           killed_by="test_conn_states.py::test_close_twice_and_send_after_close"),
    Mutant("close_twice_allowed", STATES,
           '    (S.FIN_WAIT_1, "rcv_ack_of_fin"): Edge(S.FIN_WAIT_2),',
           '    (S.FIN_WAIT_1, "close"): Edge(S.FIN_WAIT_1),\n'
           '    (S.FIN_WAIT_1, "rcv_ack_of_fin"): Edge(S.FIN_WAIT_2),',
           killed_by="test_conn_states.py::test_table_only_legal_states"),
    Mutant("legality_not_checked", MACHINE,
           "        if (self._state, call) not in TRANSITIONS:\n",
           "        if False:\n",
           killed_by="test_conn_states.py::test_half_close_data_still_flows_to_the_closer"),
    # ---------------------------------------------------------------- retransmission
    Mutant("rto_not_backed_off", RETRANSMISSION,
           "self._rto.back_off()  # RFC 6298 §5.5", "pass",
           killed_by="test_conn_states.py::test_lost_syn_is_retransmitted_with_backoff"),
    Mutant("karn_rule_removed", RETRANSMISSION,
           "self._rtt_probe = None  # Karn: no samples from retransmitted data", "pass",
           killed_by="test_conn_rfc.py::test_no_rtt_sample_from_a_retransmitted_syn"),
    Mutant("fast_retransmit_removed", RETRANSMISSION,
           "if self._dupacks == 3 and self._recover is None and (", "if False and (",
           killed_by="test_conn_behaviour.py::test_one_loss_is_repaired_by_fast_retransmit"),
    Mutant("cwnd_not_collapsed_on_timeout", RETRANSMISSION,
           "        self._cwnd = self._smss\n", "",
           killed_by="test_conn_rfc.py::test_timeout_shrinks_the_window_to_one_segment"),
    Mutant("cwnd_limit_removed", SENDING,
           "usable = min(self._snd_wnd, self._cwnd)", "usable = self._snd_wnd",
           killed_by="test_conn_rfc.py::test_initial_window_limits_the_first_flight"),
    Mutant("retries_unbounded", RETRANSMISSION,
           "return self._retries <= limit", "return True",
           killed_by="test_conn_states.py::test_every_transition_is_reached"),
    Mutant("slow_start_removed", RETRANSMISSION,
           "if self._cwnd < self._ssthresh:", "if False:",
           killed_by="test_conn_behaviour.py::test_slow_start_grows_by_one_segment_per_ack"),
    Mutant("syn_grows_cwnd", RETRANSMISSION,
           "self._grow_cwnd(freed)", "self._grow_cwnd(freed or 1)",
           killed_by="test_conn_behaviour.py::test_slow_start_grows_by_one_segment_per_ack"),
    Mutant("rtt_never_sampled", RETRANSMISSION,
           "self._rto.sample(now - self._rtt_probe[1])", "pass",
           killed_by="test_conn_rfc.py::test_a_flight_times_its_first_segment"),
    Mutant("newreno_partial_ack_ignored", RETRANSMISSION,
           "            else:  # partial ACK: the next hole is lost too\n"
           "                self._retransmit_head()\n", "",
           killed_by="test_conn_behaviour.py::test_two_losses_in_one_window_repaired_by_newreno_partial_acks"),
    Mutant("recovery_not_deflated", RETRANSMISSION,
           "self._cwnd, self._recover = self._ssthresh, None",
           "self._recover = None",
           killed_by="test_conn_behaviour.py::test_one_loss_is_repaired_by_fast_retransmit"),
    Mutant("ssthresh_not_halved_on_fast_retransmit", RETRANSMISSION,
           "            self._ssthresh = max(flight // 2, 2 * self._smss)\n"
           "            self._cwnd = self._ssthresh + 3 * self._smss\n",
           "            self._cwnd = self._ssthresh + 3 * self._smss\n",
           killed_by="test_conn_behaviour.py::test_one_loss_is_repaired_by_fast_retransmit"),
    Mutant("dupacks_counted_in_zero_window", RETRANSMISSION,
           "if self._snd_wnd == 0 or self._board.recovery_point is not None:",
           "if self._board.recovery_point is not None:",
           killed_by="test_conn_behaviour.py::test_zero_window_probes_back_off_and_never_give_up"),
    Mutant("rttvar_ignored", RTT,
           "max(0.001, 4 * self.rttvar)", "0.001",
           killed_by="test_conn_behaviour.py::test_rto_follows_rfc_6298"),
    Mutant("ts_recent_never_updated", ARRIVAL,
           "and seq_le(segment.seq, self._last_ack_sent):\n            self._ts_recent = stamps[0]",
           "and seq_le(segment.seq, self._last_ack_sent):\n            pass",
           killed_by="test_conn_behaviour.py::test_ts_recent_follows_the_peer"),
    Mutant("ts_recent_never_updated_by_prediction", ARRIVAL,
           "self._ts_recent = stamps[0]  # RFC 7323 §4.3 (not older: PAWS passed)", "pass",
           killed_by="test_conn_behaviour.py::test_ts_recent_follows_the_peer"),
    Mutant("pure_ack_from_snd_nxt", CONNECTION,
           "return self._snd_max if seq_le", "return self._snd_nxt if seq_le",
           killed_by="test_conn_prediction.py::test_prediction_changes_nothing_but_speed"),
    Mutant("pure_ack_past_the_zero_window", CONNECTION,
           "return self._snd_max if seq_le(self._snd_max, edge) else edge", "return self._snd_max",
           killed_by="test_conn_states.py::test_acks_stay_inside_a_zero_window_after_a_probe"),
    # ---------------------------------------------------------------- sending policy
    Mutant("nagle_removed", SENDING,
           "return not (self.config.nagle and self._snd_nxt != self._snd_una)", "return True",
           killed_by="test_conn_behaviour.py::test_nagle_coalesces_small_writes"),
    Mutant("nodelay_ignored", SENDING,
           "return not (self.config.nagle and self._snd_nxt != self._snd_una)",
           "return self._snd_nxt == self._snd_una",
           killed_by="test_conn_behaviour.py::test_nodelay_sends_each_write_at_once"),
    Mutant("sender_sws_removed", SENDING,
           "        return False\n\n    def _emit", "        return True\n\n    def _emit",
           killed_by="test_conn_states.py::test_no_options_from_peer_means_no_scaling_no_timestamps"),
    Mutant("zero_window_never_probed", SENDING,
           "room, probed = 1, True", "room, probed = 0, False",
           killed_by="test_conn_states.py::test_zero_window_and_probe"),
    Mutant("persist_not_backed_off", SENDING,
           "self._persist_backoffs += 1", "pass",
           killed_by="test_conn_behaviour.py::test_zero_window_probes_back_off_and_never_give_up"),
    Mutant("keepalive_never_probes", SENDING,
           "        self._queue(self._segment(ACK, seq_add(self._snd_nxt, -1)))\n", "",
           killed_by="test_conn_behaviour.py::test_keepalives_probe_an_idle_peer_that_answers"),
    Mutant("keepalive_never_gives_up", SENDING,
           "if self._keepalives >= self.config.keepalive_count:", "if False:",
           killed_by="test_conn_behaviour.py::test_keepalives_end_a_dead_connection"),
    Mutant("keepalive_not_restarted_by_the_peer", CONNECTION,
           "        self._keepalive_restart(now)\n", "",
           killed_by="test_conn_behaviour.py::test_keepalives_probe_an_idle_peer_that_answers"),
    Mutant("keepalive_interval_ignored", SENDING,
           "self._timers[KEEPALIVE] = now + self.config.keepalive_interval",
           "self._timers[KEEPALIVE] = now + self.config.keepalive_idle",
           killed_by="test_conn_behaviour.py::test_keepalives_end_a_dead_connection"),
    Mutant("challenge_acks_unlimited", ARRIVAL,
           "if sent < self.config.challenge_ack_limit:", "if True:",
           killed_by="test_conn_behaviour.py::test_challenge_acks_are_rate_limited"),
    Mutant("challenge_ack_allowance_never_renewed", ARRIVAL,
           "            start, sent = self._now, 0\n", "            pass\n",
           killed_by="test_conn_behaviour.py::test_challenge_acks_are_rate_limited"),
    Mutant("rto_not_three_seconds_after_lost_syn", RETRANSMISSION,
           "self._rto.base = max(self._rto.base, RTO_AFTER_LOST_SYN)", "pass",
           killed_by="test_conn_rfc.py::test_no_rtt_sample_from_a_retransmitted_syn"),
    Mutant("fast_retransmit_below_recover_after_timeout", RETRANSMISSION,
           "self._rto_recover is None or seq_gt(self._snd_una, self._rto_recover)", "True",
           killed_by="test_conn_behaviour.py::test_no_fast_retransmit_below_recover_after_a_timeout"),
    Mutant("ts_recent_never_expires", ARRIVAL,
           "if self._now - self._ts_recent_time > PAWS_IDLE_LIMIT:", "if False:",
           killed_by="test_conn_behaviour.py::test_ts_recent_expires_after_24_days_idle"),
    Mutant("urgent_never_signalled", ARRIVAL,
           "        self._events.append(Urgent(seq_diff(point, seq_add(self._irs, 1))))\n", "",
           killed_by="test_conn_behaviour.py::test_urgent_data_is_marked_inline"),
    Mutant("urgent_pointer_at_the_last_octet", ARRIVAL,
           "point = seq_add(segment.seq, segment.urgent)",
           "point = seq_add(segment.seq, segment.urgent - 1)",
           killed_by="test_conn_behaviour.py::test_urgent_data_is_marked_inline"),
    Mutant("delivered_urgent_pointer_taken", ARRIVAL,
           "if not seq_gt(point, self._rcv_nxt) or seq_gt(", "if seq_gt(",
           killed_by="test_conn_behaviour.py::test_urgent_pointer_validated"),
    Mutant("urgent_pointer_past_the_window_taken", ARRIVAL,
           " or seq_gt(point, seq_add(self._rcv_nxt, self.rcv_wnd)):", ":",
           killed_by="test_conn_behaviour.py::test_urgent_pointer_validated"),
    Mutant("urgent_signalled_again", ARRIVAL,
           "if self._rcv_up is not None and not seq_gt(point, self._rcv_up):", "if False:",
           killed_by="test_conn_behaviour.py::test_a_far_urgent_pointer_is_capped_at_16_bits"),
    Mutant("urgent_never_sent", SENDING,
           "        if self._snd_up is None or not seq_gt(self._snd_up, seq):\n            return flags, 0",
           "        if True:\n            return flags, 0",
           killed_by="test_conn_behaviour.py::test_urgent_data_is_marked_inline"),
    Mutant("urgent_pointer_not_capped", SENDING,
           "return flags | URG, min(seq_diff(self._snd_up, seq), URGENT_POINTER_MAX)",
           "return flags | URG, seq_diff(self._snd_up, seq) & URGENT_POINTER_MAX",
           killed_by="test_conn_behaviour.py::test_a_far_urgent_pointer_is_capped_at_16_bits"),
    Mutant("urgent_mode_never_ends", RETRANSMISSION,
           "            self._snd_up = None  # the urgent data is through: no more URG\n",
           "            pass\n",
           killed_by="test_conn_behaviour.py::test_urgent_data_is_marked_inline"),
    Mutant("sack_never_offered", SENDING,
           "if self.config.sack and (self._state is State.SYN_SENT or self._sack_ok):", "if False:",
           killed_by="test_conn_states.py::test_a_duplicate_is_reported_once_as_the_first_sack_block"),
    Mutant("sack_without_permission", ARRIVAL,
           "self._sack_ok = self.config.sack and syn.sack_permitted", "self._sack_ok = True",
           killed_by="test_conn_states.py::test_no_options_from_peer_means_no_scaling_no_timestamps"),
    Mutant("sack_blocks_never_sent", SENDING,
           "if sack and self._sack_ok and (self._dsack or len(self._reassembly)):", "if False:",
           killed_by="test_conn_states.py::test_a_duplicate_is_reported_once_as_the_first_sack_block"),
    Mutant("dsack_never_sent", SENDING,
           "dsack = (self._dsack,) if self._dsack is not None else ()", "dsack = ()",
           killed_by="test_conn_states.py::test_a_duplicate_is_reported_once_as_the_first_sack_block"),
    Mutant("dsack_repeated", SENDING,
           "        self._dsack = None  # reported once", "        pass  # reported once",
           killed_by="test_conn_states.py::test_a_duplicate_is_reported_once_as_the_first_sack_block"),
    Mutant("dsack_for_a_partial_duplicate_missed", ARRIVAL,
           "self._duplicate(first, min(-first, len(data)))", "pass",
           killed_by="test_conn_states.py::test_a_duplicate_is_reported_once_as_the_first_sack_block"),
    Mutant("sack_block_ends_short", SENDING,
           "seq_add(self._rcv_nxt, end))", "seq_add(self._rcv_nxt, end - 1))",
           killed_by="test_conn_states.py::test_a_duplicate_is_reported_once_as_the_first_sack_block"),
    Mutant("gap_filled_ack_delayed", ARRIVAL,
           "if offset or len(held) or len(ready) > len(data):", "if offset or len(held):",
           killed_by="test_conn_rfc.py::test_a_segment_that_fills_a_gap_is_acknowledged_at_once"),
    Mutant("reassembly_gap_filled_by_the_later_copy", BUFFERS,
           "            merged += ranges[index]\n",
           "            merged += data[at - start:at - start + len(ranges[index])] or ranges[index]\n",
           killed_by="test_conn_buffers.py::test_the_queue_agrees_with_a_byte_map"),
    Mutant("reassembly_growth_uncounted", BUFFERS,
           "                self._held += beyond", "                pass",
           killed_by="test_conn_buffers.py::test_the_queue_agrees_with_a_byte_map"),
    Mutant("sack_blocks_oldest_first", BUFFERS,
           "for position in reversed(self._recent):", "for position in self._recent:",
           killed_by="test_conn_buffers.py::test_the_queue_agrees_with_a_byte_map"),
    Mutant("sack_blocks_unmerged", BUFFERS,
           "if first < 0 or starts[first] + len(ranges[first]) < start:",
           "if first < 0 or starts[first] + len(ranges[first]) <= start:",
           killed_by="test_conn_buffers.py::test_the_queue_agrees_with_a_byte_map"),
    Mutant("probe_left_to_the_retransmission_timer", SENDING,
           "                self._timers.pop(RETRANSMIT, None)\n", "                pass\n",
           killed_by="test_conn_behaviour.py::test_zero_window_probes_back_off_and_never_give_up"),
    Mutant("fin_wait_2_never_times_out", CONNECTION,
           '            elif timer is FIN_WAIT_2:\n                self._transition("timeout")\n',
           "",
           killed_by="test_conn_states.py::test_every_transition_is_reached"),
    Mutant("fin_wait_2_cuts_a_flowing_half_close", CONNECTION,
           "        if self._state is S.FIN_WAIT_2:  # entered, or the peer is still there: (re)start\n"
           "            self._fin_wait_2_restart(now)\n",
           "        if self._state is S.FIN_WAIT_2 and FIN_WAIT_2 not in self._timers:\n"
           "            self._fin_wait_2_restart(now)\n",
           killed_by="test_conn_states.py::test_fin_wait_2_waits_while_the_peer_still_sends"),
    # ---------------------------------------------------------------- the host: RFC 9293 §3.10.7.1
    Mutant("host_answers_a_reset", HOST,
           '            self._drop(f"{reason}: RST not answered")\n            return\n',
           "            pass\n",
           killed_by="test_host.py::test_a_rst_is_never_answered"),
    Mutant("host_reset_for_an_ack_not_at_its_ack", HOST,
           "seq=segment.ack, flags=RST, window=0)", "seq=0, flags=RST, window=0)",
           killed_by="test_host.py::test_ack_to_a_closed_port_gets_rst_at_its_ack"),
    Mutant("host_reset_ack_without_seg_len", HOST,
           "ack=seq_add(segment.seq, segment.seg_len)", "ack=seq_add(segment.seq, 1)",
           killed_by="test_host.py::test_syn_to_a_closed_port_gets_rst_ack_with_seq_zero"),
    Mutant("host_reset_without_ack_not_at_zero", HOST,
           "dst_port=segment.src_port, seq=0,", "dst_port=segment.src_port, seq=segment.seq,",
           killed_by="test_host.py::test_syn_to_a_closed_port_gets_rst_ack_with_seq_zero"),
    Mutant("host_takes_addresses_not_owned", HOST,
           "        if dst_ip not in self._version:\n            self._drop",
           "        if False:\n            self._drop",
           killed_by="test_host.py::test_a_segment_for_an_address_not_owned_is_dropped_with_a_reason"),
    Mutant("host_takes_multicast_sources", HOST, "        elif not unicast:\n", "        elif False:\n",
           killed_by="test_host.py::test_a_segment_for_an_address_not_owned_is_dropped_with_a_reason"),
    # ---------------------------------------------------------------- listeners and the table
    Mutant("listener_consumed_by_its_first_syn", HOST,
           "            listener.half_open.add(conn)\n",
           "            listener.half_open.add(conn)\n            del self._listeners[listener.address]\n",
           killed_by="test_host.py::test_a_listener_takes_many_clients_and_accept_gives_them_in_order"),
    Mutant("backlog_unbounded", HOST,
           "if len(listener.half_open) >= listener.backlog:", "if False:",
           killed_by="test_host.py::test_beyond_the_backlog_syns_get_cookies_and_no_state"),
    Mutant("accept_queue_unbounded", HOST,
           "if listener.queued >= listener.backlog:", "if False:",
           killed_by="test_host.py::test_cookie_handshakes_stop_at_a_full_accept_queue"),
    Mutant("reset_half_open_kept", HOST,
           "if state is S.LISTEN or state is S.CLOSED:", "if state is S.CLOSED:",
           killed_by="test_host.py::test_a_reset_in_syn_received_removes_the_half_open_connection"),
    Mutant("half_open_never_released", HOST,
           "                listener.half_open.discard(conn)\n                self._retire(conn)",
           "                self._retire(conn)",
           killed_by="test_host.py::test_a_reset_in_syn_received_removes_the_half_open_connection"),
    Mutant("closed_connections_kept", HOST,
           "        if state is S.CLOSED:\n            self._retire(conn)\n", "",
           killed_by="test_host.py::test_connections_leave_the_host_at_closed_after_time_wait"),
    Mutant("last_segments_of_closed_lost", HOST,
           "        for conn in touched:\n",
           "        for conn in [c for c in touched if c in self._keys]:\n",
           killed_by="test_host.py::test_closing_a_listener_resets_what_it_held_and_refuses_new_syns"),
    # ---------------------------------------------------------------- work in proportion to what ran
    Mutant("host_misses_a_send", CONNECTION,
           '        self._transition("send")\n        if self._watch is not None:\n',
           '        self._transition("send")\n        if False:\n',
           killed_by="test_conn_ecn.py::test_a_host_passes_codepoints_both_ways"),
    Mutant("host_misses_a_window_update", CONNECTION,
           "            self._ack_pending = True  # window update\n"
           "            if self._watch is not None:\n",
           "            self._ack_pending = True  # window update\n"
           "            if False:\n",
           killed_by="test_host.py::test_reading_a_full_window_sends_the_window_update_at_once"),
    Mutant("host_takes_a_stale_deadline", HOST,
           "while heap and self._deadline.get(heap[0][2]) != heap[0][0]:", "while False:",
           killed_by="test_host.py::test_connections_leave_the_host_at_closed_after_time_wait"),
    Mutant("host_deadline_never_moves", HOST,
           "        if deadline == self._deadline.get(conn):\n",
           "        if conn in self._deadline and deadline is not None:\n",
           killed_by="test_host.py::test_a_half_open_connection_that_times_out_leaves"),
    Mutant("host_hold_ignored", HOST, "            if conn in self._held:\n", "            if False:\n",
           killed_by="test_host.py::test_a_held_connection_keeps_its_data_and_its_window_closes"),
    Mutant("host_release_loses_events", HOST,
           "        self._order.extend([connection] * count)\n", "",
           killed_by="test_host.py::test_a_held_connection_keeps_its_data_and_its_window_closes"),
    Mutant("host_untouched_after_a_timer", TCB,
           "        if self._watch is not None:\n            self._watch(self)\n", "",
           killed_by="test_conn_ecn.py::test_a_host_listener_agrees_but_a_cookie_cannot"),
    Mutant("listener_close_keeps_connections", HOST, "                conn.abort(now)\n",
           "                pass\n",
           killed_by="test_host.py::test_closing_a_listener_resets_what_it_held_and_refuses_new_syns"),
    Mutant("events_out_of_order", HOST,
           "self._order.extend([conn] * (pending - counted))",
           "self._order.extendleft([conn] * (pending - counted))",
           killed_by="test_host.py::test_events_come_out_in_order_tagged_with_their_connection"),
    # ---------------------------------------------------------------- RFC 6056 ephemeral ports
    Mutant("ephemeral_reuses_a_live_or_time_wait_tuple", HOST,
           "return not self._taken((ip, port, *remote)) and", "return",
           killed_by="test_host.py::test_ephemeral_ports_avoid_live_and_time_wait_tuples"),
    Mutant("ephemeral_port_not_keyed", PORTS, "offset = self._offset(local_ip, remote)", "offset = 0",
           killed_by="test_host.py::test_ephemeral_ports_are_keyed_and_successive"),
    Mutant("ephemeral_counter_frozen", PORTS, "            self._next += 1\n", "",
           killed_by="test_host.py::test_a_listener_takes_many_clients_and_accept_gives_them_in_order"),
    # ---------------------------------------------------------------- RFC 4987 §3.6 SYN cookies
    Mutant("cookie_offers_what_it_cannot_carry", HOST,
           "options=((OptionKind.MSS, mss),))", "options=segment.options)",
           killed_by="test_host.py::test_beyond_the_backlog_syns_get_cookies_and_no_state"),
    Mutant("cookie_loses_to_a_later_half_open", HOST,
           "            if conn is not None and self._cookie_overtakes(conn, segment, now, key):\n"
           "                return\n", "",
           killed_by="test_host.py::test_a_cookie_acked_after_its_syn_came_again_completes_the_handshake"),
    Mutant("cookie_mss_ignored", HOST,
           "self._cookie_syn(segment, isn, mss)", "self._cookie_syn(segment, isn, 536)",
           killed_by="test_host.py::test_a_client_gets_in_through_a_cookie_with_its_mss_encoded"),
    Mutant("cookie_hash_not_checked", COOKIES,
           "self._hash(counter, index, local, remote, client_isn) == cookie & 0xFFFFFF",
           "self._hash(counter, index, local, remote, client_isn) != -1",
           killed_by="test_host.py::test_an_ack_for_a_listener_gets_rst_and_the_listener_survives"),
    Mutant("cookie_never_expires", COOKIES,
           "for counter in (current, current - 1):", "for counter in range(current - 31, current + 1):",
           killed_by="test_host.py::test_cookies_expire_and_bind_to_their_connection"),
    Mutant("cookie_not_bound_to_the_isn", COOKIES, '|{remote[1]}|{client_isn}"', '|{remote[1]}"',
           killed_by="test_host.py::test_cookies_expire_and_bind_to_their_connection"),
    # ---------------------------------------------------------------- SACK recovery (RFC 6675)
    Mutant("scoreboard_ignored", ARRIVAL,
           "sacked = self._take_sack(segment) if self._sack_ok and segment.options else None",
           "sacked = None",
           killed_by="test_conn_sack.py::test_losses_in_one_window_are_repaired_in_one_sack_recovery"),
    Mutant("pipe_counts_sacked_bytes", SCOREBOARD,
           "        pipe = 0\n", "        pipe = sum(end - start for start, end in self.ranges)\n",
           killed_by="test_conn_states.py::test_zero_window_and_probe"),
    Mutant("pipe_ignores_retransmissions", SCOREBOARD,
           "            if start < high_rxt:", "            if False:",
           killed_by="test_conn_sack.py::test_pipe_never_lets_more_than_cwnd_into_the_network"),
    Mutant("is_lost_threshold_off_by_one", SCOREBOARD,
           "lost = count >= DUP_THRESH or above > (DUP_THRESH - 1) * smss",
           "lost = count > DUP_THRESH or above > DUP_THRESH * smss",
           killed_by="test_conn_sack.py::test_is_lost_at_dupthresh"),
    Mutant("dsack_not_recognized", RECOVERY,
           "if not seq_gt(first[1], ack) or (len(blocks) > 1", "if False and (len(blocks) > 1",
           killed_by="test_conn_sack.py::test_dsack_for_a_duplicate_held_above_a_gap"),
    Mutant("sack_blocks_only_on_pure_acks", SENDING,
           "window, options = fields = self._fields()", "window, options = fields = self._fields(False)",
           killed_by="test_conn_sack.py::test_sack_blocks_ride_on_data_too"),
    Mutant("sack_option_not_counted_against_the_mss", SENDING,
           "        smss -= self._sack_option_len(header_len)\n", "",
           killed_by="test_conn_sack.py::test_sack_blocks_ride_on_data_too"),
    Mutant("sack_recovery_never_ends", RETRANSMISSION,
           "            if seq_ge(self._snd_una, board.recovery_point):\n"
           "                board.clear()\n", "",
           killed_by="test_conn_behaviour.py::test_congestion_avoidance_adds_at_most_a_segment_per_round"),
    Mutant("sack_recovery_keeps_cwnd", RECOVERY,
           "self._ssthresh = self._cwnd = max(flight // 2, 2 * smss)",
           "self._ssthresh = max(flight // 2, 2 * smss)",
           killed_by="test_conn_behaviour.py::test_congestion_avoidance_adds_at_most_a_segment_per_round"),
    Mutant("sack_recovery_grows_cwnd", RETRANSMISSION,
           "        if board.recovery_point is not None and not board.timed_out:",
           "        if False:",
           killed_by="test_conn_sack.py::test_cwnd_and_ssthresh_on_entering_and_leaving_sack_recovery"),
    Mutant("no_rescue_retransmission", RECOVERY,
           "chosen = board.rescue(point, smss)", "chosen = None",
           killed_by="test_conn_sack.py::test_rescue_retransmission_at_the_end_of_the_data"),
    Mutant("sacked_data_resent_after_timeout", RECOVERY,
           "if not board.ranges or self._snd_nxt != self._snd_max:", "if True:",
           killed_by="test_conn_sack.py::test_after_a_timeout_only_the_holes_go_again"),
    Mutant("reneging_not_noticed", SCOREBOARD,
           "self.ranges = [] if shifted and shifted[0][0] <= 0 else shifted", "self.ranges = shifted",
           killed_by="test_conn_sack.py::test_a_receiver_that_reneges_is_still_repaired"),
    Mutant("dsack_above_rcv_nxt_missed", ARRIVAL,
           "                self._duplicate(offset, len(data))", "                pass",
           killed_by="test_conn_sack.py::test_dsack_for_a_duplicate_held_above_a_gap"),
    Mutant("sack_blocks_on_data_ignored", ARRIVAL,
           "if self._sack_ok and segment.options else None",
           "if self._sack_ok and segment.options and not segment.payload else None",
           killed_by="test_conn_sack.py::test_sack_blocks_ride_on_data_too"),
    Mutant("stats_count_no_probes", SENDING,
           "            self._counts.probes += 1\n", "            pass\n",
           killed_by="test_conn_behaviour.py::test_zero_window_probes_back_off_and_never_give_up"),
    Mutant("stats_count_held_back_challenges", ARRIVAL,
           "            self._counts.challenge_acks += 1\n            sent += 1\n",
           "            sent += 1\n        self._counts.challenge_acks += 1\n",
           killed_by="test_conn_behaviour.py::test_challenge_acks_are_rate_limited"),
    Mutant("sack_blocks_outside_the_flight_taken", SCOREBOARD,
           "if 0 < start < end <= flight:", "if start < end:",
           killed_by="test_conn_sack.py::test_update_keeps_valid_blocks_merged"),
    # ---------------------------------------------------------------- RFC 3168 ECN
    Mutant("ecn_no_reduction", RETRANSMISSION,
           "        self._ssthresh = max(half, 2 * self._smss)\n"
           "        self._cwnd = max(half, self._smss)\n", "",
           killed_by="test_conn_ecn.py::test_ece_halves_cwnd_once_per_window_and_sets_cwr_once"),
    Mutant("ecn_reduces_again_after_a_timeout", RETRANSMISSION,
           "self._rto_recover is not None and not seq_gt(self._snd_una, self._rto_recover)",
           "False",
           killed_by="test_conn_ecn.py::test_an_ece_after_a_timeout_does_not_cut_the_window_again"),
    Mutant("ecn_reduction_every_ack", RETRANSMISSION,
           "self._cwr_end is not None and not seq_gt(self._snd_una, self._cwr_end)", "False",
           killed_by="test_conn_ecn.py::test_ece_halves_cwnd_once_per_window_and_sets_cwr_once"),
    Mutant("ecn_ect_on_retransmissions", SENDING,
           "if self._ecn_ok and segment.payload and seq_ge(segment.seq, self._ect_from) \\\n"
           "                and seq_lt",
           "if self._ecn_ok and segment.payload and seq_lt",
           killed_by="test_conn_ecn.py::test_ect_0_marks_new_data_only"),
    Mutant("ecn_ect_on_resent_data", SENDING,
           "seq_add(data_start, max(first, sent_before))", "seq_add(data_start, first)",
           killed_by="test_conn_ecn.py::test_a_batch_of_resent_and_new_data_marks_only_the_new"),
    Mutant("ecn_ece_not_cleared_by_cwr", ARRIVAL,
           "        if flags & CWR:\n            self._ece_echo = False\n", "",
           killed_by="test_conn_ecn.py::test_ce_is_echoed_with_ece_until_cwr_arrives"),
    Mutant("ecn_ce_ignored", ARRIVAL, "if ce and segment.payload:", "if False:",
           killed_by="test_conn_ecn.py::test_ce_is_echoed_with_ece_until_cwr_arrives"),
    Mutant("ecn_no_ect_in_sack_recovery", RECOVERY,
           "if segment.payload and self._ecn_ok:", "if False:",
           killed_by="test_conn_ecn.py::test_ect_0_marks_new_data_only"),
    Mutant("ecn_no_cwr", SENDING,
           "flags |= CWR  # RFC 3168 §6.1.2: on new data, never a retransmission", "pass",
           killed_by="test_conn_ecn.py::test_ce_is_echoed_with_ece_until_cwr_arrives"),
    Mutant("ecn_setup_syn_ack_with_cwr_accepted", ARRIVAL,
           'self._ecn_ok = mode == "request" and setup == ACK | ECE',
           'self._ecn_ok = mode == "request" and bool(setup & ECE)',
           killed_by="test_conn_ecn.py::test_a_syn_ack_with_ece_and_cwr_is_not_ecn_setup"),
    Mutant("ecn_accepted_when_off", ARRIVAL,
           'mode == "request" or (mode == "accept" and self._state is S.LISTEN))',
           'mode != "off" or self._state is S.LISTEN)',
           killed_by="test_conn_ecn.py::test_ecn_is_agreed_only_when_one_asks_and_the_other_accepts"),
    # ---------------------------------------------------------------- RFC 9293 §3.8.6.2.2 receiver SWS
    Mutant("sws_threshold_ignored", CONNECTION,
           "if self._rcv_reserve >= threshold:", "if True:",
           killed_by="test_conn_receive_window.py::test_the_right_edge_moves_only_in_big_steps"),
    Mutant("sws_window_update_waits", CONNECTION,
           "self._ack_pending = True  # window update", "pass",
           killed_by="test_conn_states.py::test_zero_window_and_probe"),
)



def mutated(mutant: Mutant) -> str:
    """The source of ``mutant.path`` with the defect in it."""
    return (ROOT / mutant.path).read_text(encoding="utf-8").replace(mutant.before, mutant.after)


def check(mutants: tuple[Mutant, ...]) -> list[str]:
    """Problems with the list itself: a snippet that is not in its file exactly once, a
    mutant that is not valid Python (the tests would fail on importing it, not on its
    defect), a named test that does not exist, a name used twice."""
    problems = []
    for mutant in mutants:
        found = (ROOT / mutant.path).read_text(encoding="utf-8").count(mutant.before)
        if found != 1:
            problems.append(f"{mutant.name}: its snippet occurs {found} times in {mutant.path}")
            continue
        try:
            compile(mutated(mutant), mutant.path, "exec")
        except SyntaxError as exc:
            problems.append(f"{mutant.name}: the mutated {mutant.path} is not Python ({exc.msg}, "
                            f"line {exc.lineno})")
        if mutant.killed_by:
            file, _, function = mutant.killed_by.partition("::")
            if f"tests/{file}" not in TESTS:
                problems.append(f"{mutant.name}: killed_by names {file}, not one of TESTS")
            elif f"def {function}(" not in (ROOT / "tests" / file).read_text(encoding="utf-8"):
                problems.append(f"{mutant.name}: killed_by names {function}, not in {file}")
    names = [mutant.name for mutant in mutants]
    problems += [f"{name}: named twice" for name in set(names) if names.count(name) > 1]
    return problems


def copy_tree(into: pathlib.Path) -> pathlib.Path:
    """The sources and tests, without compiled modules, caches or build products.

    The copy is compiled to bytecode checked against a hash of its source (PEP 552), and
    the test runs write none (``environment``): each run reads the unmutated modules'
    bytecode, and compiles afresh the one module whose source no longer matches its hash,
    the mutated one, however little time has passed or its size changed.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.c", "*.html", ".hypothesis")
    for name in ("fastseg", "tests"):
        shutil.copytree(ROOT / name, into / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", into / "pyproject.toml")
    compileall.compile_dir(into / "fastseg", quiet=1,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    return into


def environment(copy: pathlib.Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(copy), FASTSEG_NO_EXTENSIONS="1",
               PYTHONDONTWRITEBYTECODE="1", CI="1")
    env.pop("FASTSEG_REQUIRE_EXTENSIONS", None)
    return env


def verify_import(copy: pathlib.Path) -> None:
    """Fail unless the copy's pure-Python fastseg is the one its test runs import."""
    probe = "import fastseg, fastseg.conn.arrival as a; print(fastseg.IMPLEMENTATION, a.__file__)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=copy, env=environment(copy),
                         capture_output=True, text=True, check=True).stdout.split()
    if out[0] != "python" or not pathlib.Path(out[1]).resolve().is_relative_to(copy.resolve()):
        raise SystemExit(f"the copy is not what gets imported: {out}")


#: pytest's exit status when tests ran and some failed; any other non-zero status (a
#: collection error, a test not found, none collected, an internal error) proves nothing.
TESTS_FAILED = 1


class Outcome(NamedTuple):
    """How a test run ended: 'passed', 'failed', 'timeout' or 'broken' (pytest could not run
    the tests); the first failing test, or what broke."""

    verdict: str
    seconds: float
    failed: str = ""


def run_tests(copy: pathlib.Path, timeout: float, tests: tuple[str, ...] = TESTS) -> Outcome:
    start = time.monotonic()
    # Only the plugin the tests use: others installed beside them (pytest-benchmark,
    # pytest-xdist) would load in each of the gate's many short runs.
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-rfE",
               "-p", "hypothesis.extra.pytestplugin", *tests]
    env = dict(environment(copy), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    try:
        done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return Outcome("timeout", time.monotonic() - start)
    seconds = time.monotonic() - start
    if done.returncode == 0:
        return Outcome("passed", seconds)
    failed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    if done.returncode != TESTS_FAILED or not failed:
        last = (done.stdout + done.stderr).strip().splitlines()[-1:] or [""]
        return Outcome("broken", seconds, f"pytest exited {done.returncode}: {last[0]}")
    return Outcome("failed", seconds, failed[0])


def function_of(node: str) -> str:
    """``tests/f.py::test_x[params]`` -> ``f.py::test_x``, as ``killed_by`` spells it."""
    return node.removeprefix("tests/").split("[")[0]


class Result(NamedTuple):
    outcome: Outcome
    note: str = ""  # when the named test did not kill the mutant, or none is named


def run_mutant(mutant: Mutant, copies: queue.Queue[pathlib.Path], timeout: float,
               full: bool) -> Result:
    copy = copies.get()
    target = copy / mutant.path
    original = target.read_text(encoding="utf-8")
    try:
        target.write_text(original.replace(mutant.before, mutant.after), encoding="utf-8")
        if mutant.killed_by and not full:
            named = run_tests(copy, timeout, (f"tests/{mutant.killed_by}",))
            if named.verdict != "passed":
                return Result(named)
        # all the tests, those of the mutated part first
        first = HOST_TESTS + CONN_TESTS if mutant.path in (HOST, PORTS, COOKIES) else TESTS
        outcome = run_tests(copy, timeout, first)
        killer, note = function_of(outcome.failed), ""
        if outcome.verdict == "failed" and killer != mutant.killed_by:
            if full:
                note = f"named: {mutant.killed_by or 'none'}"
            elif mutant.killed_by:
                note = f"its named test passed: name {killer}"
            else:
                note = f"none named: name {killer}"
        return Result(outcome, note)
    finally:
        target.write_text(original, encoding="utf-8")
        copies.put(copy)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only these mutants")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant")
    parser.add_argument("--full", action="store_true",
                        help="run all of TESTS on every mutant, not only the test it names")
    args = parser.parse_args()
    unknown = set(args.names) - {mutant.name for mutant in MUTANTS}
    if unknown:
        parser.error(f"no such mutants: {', '.join(sorted(unknown))}")
    mutants = tuple(m for m in MUTANTS if not args.names or m.name in args.names)
    problems = check(MUTANTS)
    if problems:
        print("the mutant list no longer matches the source:", *problems, sep="\n  ")
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="conn-mutants-") as tmp:
        trees = [copy_tree(pathlib.Path(tmp) / f"copy{index}") for index in range(args.jobs)]
        for tree in trees:
            verify_import(tree)
        baseline = run_tests(trees[0], args.timeout)
        if baseline.verdict != "passed":
            print(f"the tests do not pass without a mutant: {baseline.verdict} {baseline.failed}")
            return 2
        print(f"unmutated: passed in {baseline.seconds:.1f} s")
        copies: queue.Queue[pathlib.Path] = queue.Queue()
        for tree in trees:
            copies.put(tree)
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda m: run_mutant(m, copies, args.timeout, args.full),
                                    mutants))
    survivors, broken, notes = [], [], 0
    for mutant, (outcome, note) in zip(mutants, results):
        verdict = {"failed": "killed", "timeout": "killed (timeout)", "passed": "SURVIVED",
                   "broken": "BROKEN"}[outcome.verdict]
        print(f"{mutant.name:33} {verdict:16} {outcome.seconds:5.1f} s  {outcome.failed}"
              + (f"  ({note})" if note else ""))
        notes += bool(note)
        if outcome.verdict == "passed":
            survivors.append(mutant.name)
        elif outcome.verdict == "broken":
            broken.append(mutant.name)
    print(f"{len(mutants) - len(survivors) - len(broken)} of {len(mutants)} killed in "
          f"{time.monotonic() - started:.0f} s")
    if notes and not args.full:
        print(f"{notes} mutant(s) needed all the tests: name the test that killed each")
    if broken:
        print("the tests could not run on (fix the mutant):", ", ".join(broken))
        return 2
    if survivors:
        print("survivors:", ", ".join(survivors))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
