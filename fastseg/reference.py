"""The pure-Python implementation of the whole codec API, importable whichever twin is active.

It is the readable specification and the oracle the compiled twin is tested against.
"""

from fastseg._checksum_py import internet_checksum, tcp_checksum, update_checksum, verify_checksum
from fastseg._codec_py import pack, pack_into, unpack
from fastseg._seq_py import seq_add, seq_diff, seq_ge, seq_gt, seq_in_window, seq_le, seq_lt

__all__ = [
    "internet_checksum", "pack", "pack_into", "seq_add", "seq_diff", "seq_ge", "seq_gt",
    "seq_in_window", "seq_le", "seq_lt", "tcp_checksum", "unpack", "update_checksum",
    "verify_checksum",
]
