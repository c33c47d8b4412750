"""32-bit wrap-around sequence-number arithmetic (RFC 9293 §3.4), from the active twin."""

from fastseg._impl import seq as _twin

__all__ = ["seq_add", "seq_diff", "seq_ge", "seq_gt", "seq_in_window", "seq_le", "seq_lt"]

seq_lt = _twin.seq_lt
seq_le = _twin.seq_le
seq_gt = _twin.seq_gt
seq_ge = _twin.seq_ge
seq_add = _twin.seq_add
seq_diff = _twin.seq_diff
seq_in_window = _twin.seq_in_window
