"""fastseg: a fast, lossless TCP segment codec with checksums and sequence arithmetic.

``IMPLEMENTATION`` says which twin serves the API: ``"cython"`` or ``"python"``;
:mod:`fastseg.reference` is always the pure-Python one.
"""

from fastseg._impl import IMPLEMENTATION
from fastseg.checksum import internet_checksum, tcp_checksum, update_checksum, verify_checksum
from fastseg.codec import pack, pack_into, unpack
from fastseg.errors import (
    Anomaly,
    BadDataOffset,
    BadOption,
    DecodeError,
    EncodeError,
    FastsegError,
    TruncatedSegment,
)
from fastseg.segment import Flags, Option, OptionKind, Segment
from fastseg.seq import seq_add, seq_diff, seq_ge, seq_gt, seq_in_window, seq_le, seq_lt

__version__ = "0.1.0"

__all__ = [
    "IMPLEMENTATION", "Anomaly", "BadDataOffset", "BadOption", "DecodeError", "EncodeError",
    "FastsegError", "Flags", "Option", "OptionKind", "Segment", "TruncatedSegment",
    "__version__", "internet_checksum", "pack", "pack_into", "seq_add", "seq_diff", "seq_ge",
    "seq_gt", "seq_in_window", "seq_le", "seq_lt", "tcp_checksum", "unpack",
    "update_checksum", "verify_checksum",
]
