"""The TCP header layout of RFC 9293 §3.1 as named constants, shared by both twins,
and the reading of an int argument that every range check of the reference starts with."""

from __future__ import annotations

from typing import Optional

#: Length of the fixed header, and the limits the 4-bit data offset sets.
HEADER_LEN = 20
MAX_HEADER_LEN = 60
MAX_OPTIONS_LEN = MAX_HEADER_LEN - HEADER_LEN
#: The data offset counts 32-bit words: header_len = data offset * OFFSET_UNIT.
OFFSET_UNIT = 4
MIN_DATA_OFFSET = HEADER_LEN // OFFSET_UNIT

#: Byte offsets of the fixed fields.
SRC_PORT = 0
DST_PORT = 2
SEQ = 4
ACK = 8
DATA_OFFSET = 12
WINDOW = 14
CHECKSUM = 16
URGENT = 18

#: The 16 bits at DATA_OFFSET: data offset (4), reserved (3), then 9 flag bits AE..FIN.
FLAG_BITS = 0x1FF
RESERVED_SHIFT = 9
RESERVED_BITS = 0x7
DATA_OFFSET_SHIFT = 12

#: Option kinds the codec decodes into Python values (IANA "TCP Option Kind Numbers").
EOL = 0
NOP = 1
MSS = 2
WSCALE = 3
SACK_PERMITTED = 4
SACK = 5
TIMESTAMPS = 8

#: An option other than EOL and NOP starts with its kind and its total length, one byte each.
OPTION_HEAD_LEN = 2
#: Where the kind and the length lie in an option; EOL and NOP are the kind byte alone.
OPTION_KIND = 0
OPTION_LENGTH = 1
KIND_LEN = 1
MAX_OPTION_LEN = 0xFF
MAX_OPTION_DATA = MAX_OPTION_LEN - OPTION_HEAD_LEN

#: Known kinds with a fixed total length (kind and length bytes included).
MSS_LEN = 4
WSCALE_LEN = 3
SACK_PERMITTED_LEN = 2
TIMESTAMPS_LEN = 10
FIXED_LENGTHS = {MSS: MSS_LEN, WSCALE: WSCALE_LEN, SACK_PERMITTED: SACK_PERMITTED_LEN,
                 TIMESTAMPS: TIMESTAMPS_LEN}
#: A SACK option is 2 bytes plus 8 per block, with at least one block (RFC 2018 §3).
SACK_BLOCK_LEN = 8
#: TSval and TSecr, like a SACK block's left and right edges, are 32-bit numbers.
U32_LEN = 4
MIN_SACK_LEN = OPTION_HEAD_LEN + SACK_BLOCK_LEN
MAX_SACK_BLOCKS = (MAX_OPTION_LEN - OPTION_HEAD_LEN) // SACK_BLOCK_LEN  # 31

U8 = 0xFF
U16 = 0xFFFF
U32 = 0xFFFFFFFF


def exact_int(value: object) -> Optional[int]:
    """``value``'s number as a plain int when its type is int or a subclass, else None.

    The number is read as ``int`` reads it, so a subclass's own comparisons and
    arithmetic are never consulted: the compiled twin reads the digits too.
    """
    if type(value) is int:
        return value
    if not issubclass(type(value), int):
        return None
    return int.__index__(value)  # type: ignore[arg-type]


def uint(value: object, limit: int) -> Optional[int]:
    """``value`` as a plain int when it is an int in [0, limit], else None."""
    number = exact_int(value)
    return number if number is not None and 0 <= number <= limit else None
