"""The compiled modules' named wire numbers (fastseg/_wire_c.pxd) equal the Python ones.

The .pxd is read as text, so this runs without a build too: each ``NAME = value``
of a ``cdef enum`` and each ``const unsigned int NAME "literal"`` of its extern block
must equal the attribute of the same name in ``_wire``, ``capture._common`` or, for
``FLAG_X``, ``Flags.X``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import fastseg
from fastseg import _wire
from fastseg._enums import Flags
from fastseg.capture import _common

PXD = Path(fastseg.__file__).with_name("_wire_c.pxd")
_ENUM_LINE = re.compile(r"^    ([A-Z][A-Z0-9_]*) = ([^#]+?)\s*(#.*)?$")
_EXTERN_LINE = re.compile(r'^    const unsigned int ([A-Z][A-Z0-9_]*) "(0x[0-9A-Fa-f]+)U"$')


def _constants() -> dict[str, int]:
    values: dict[str, int] = {}
    block = None
    for line in PXD.read_text().splitlines():
        if line and not line.startswith(" "):
            block = line
            continue
        enum = _ENUM_LINE.match(line)
        extern = _EXTERN_LINE.match(line)
        if block == "cdef enum:" and enum:
            name, text = enum.group(1), enum.group(2)
            values[name] = ast.literal_eval(text)
        elif block == "cdef extern from *:" and extern:
            values[extern.group(1)] = int(extern.group(2), 16)
        elif line.strip() and not line.strip().startswith("#"):
            raise AssertionError(f"{PXD.name}: a line this test cannot read: {line!r}")
    return values


CONSTANTS = _constants()


def _python_value(name: str) -> object:
    if name.startswith("FLAG_") and name[5:] in Flags.__members__:
        return int(Flags[name[5:]])
    for module in (_wire, _common):
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(f"{name} has no counterpart in _wire, capture._common or Flags")


def test_the_file_names_what_the_compiled_code_uses() -> None:
    for name in ("HEADER_LEN", "MSS", "SACK_BLOCK_LEN", "FLAG_BITS", "FLAG_SYN", "LINKTYPE_LINUX_SLL2",
                 "IPPROTO_TCP", "ETHERTYPE_IPV6", "PCAP_MAGIC_USEC", "MAX_RECORD"):
        assert name in CONSTANTS
    assert len(CONSTANTS) > 80


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_constant_equals_its_python_counterpart(name: str) -> None:
    python = _python_value(name)
    assert type(python) is int, f"{name} is {python!r} in Python"
    assert CONSTANTS[name] == python


def test_every_flag_and_known_kind_is_named() -> None:
    assert {name[5:] for name in CONSTANTS if name.startswith("FLAG_") and name != "FLAG_BITS"} \
        == set(Flags.__members__)
    for kind in (_wire.EOL, _wire.NOP, *_wire.FIXED_LENGTHS, _wire.SACK):
        assert kind in CONSTANTS.values()


def test_the_python_groups_are_made_of_the_named_members() -> None:
    assert set(_common.AF_INET6) == {CONSTANTS[n] for n in CONSTANTS if n.startswith("AF_INET6_")}
    assert set(_common.ETHERTYPE_VLANS) == {CONSTANTS[n] for n in
                                            ("ETHERTYPE_8021Q", "ETHERTYPE_8021AD", "ETHERTYPE_QINQ")}
    assert {CONSTANTS[n] for n in CONSTANTS if n.startswith("LINKTYPE_")} == _common.SUPPORTED_LINKTYPES
    assert set(_common.IPV6_EXTENSIONS) == {CONSTANTS[n] for n in
                                            ("IPPROTO_HOPOPTS", "IPPROTO_ROUTING", "IPPROTO_DSTOPTS")}


def test_the_frame_codes_are_the_python_ones() -> None:
    assert {CONSTANTS[n] for n in ("PCAPNG_SYSTEMD_JOURNAL", "PCAPNG_SYSDIG_EVENT", "PCAPNG_SYSDIG_EVENT_V2",
                                   "PCAPNG_SYSDIG_EVENT_V2_LARGE", "PCAPNG_CUSTOM_COPY",
                                   "PCAPNG_CUSTOM_NO_COPY")} == set(_common.PCAPNG_OTHER_FRAMES)
    layers = sorted((CONSTANTS[n], n) for n in CONSTANTS if n.startswith("LAYER_"))
    assert [code for code, _ in layers] == list(range(len(_common.LAYERS)))
