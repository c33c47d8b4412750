"""The compiled baselines (``harness._minimal_c``): right on the corpus, and a ValueError
or TypeError, never a crash or an out-of-bounds read, on anything else."""

from __future__ import annotations

import importlib
import os
import struct

import pytest
from harness.corpus import build_corpus
from harness.peers import record_fields
from hypothesis import given
from hypothesis import strategies as st


def _minimal():
    try:
        return importlib.import_module("harness._minimal_c")
    except ImportError as exc:
        if os.environ.get("FASTSEG_REQUIRE_EXTENSIONS", "") not in ("", "0"):
            pytest.fail(f"the compiled baselines are not built (python benchmarks/build.py): {exc}")
        pytest.skip(f"the compiled baselines are not built (python benchmarks/build.py): {exc}")


@pytest.fixture(scope="module")
def minimal():
    return _minimal()


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(600, seed=11)


def test_decode_gives_the_corpus_fields(minimal, corpus):
    assert [record_fields(minimal.decode(w)) for w in corpus.wires] == corpus.fields


def test_encode_gives_the_corpus_wires(minimal, corpus):
    assert [minimal.encode(f, *a) for f, a in zip(corpus.fields, corpus.addresses)] == corpus.wires


def test_decode_reads_unknown_and_misfit_options_raw(minimal):
    header = struct.pack("!HHIIHHHH", 1, 2, 3, 4, (8 << 12) | 0x10, 5, 6, 0)
    wire = header + bytes((30, 4, 0xAB, 0xCD, 2, 3, 1, 1, 1, 0, 9, 9)) + b"data"
    fields = record_fields(minimal.decode(wire))
    assert fields[9] == ((30, b"\xab\xcd"), (2, b"\x01"), (1, None), (1, None))  # EOL ends them
    assert fields[4] == 32 and fields[10] == b"data"


@pytest.mark.parametrize("wire, message", [
    (b"", "shorter"),
    (bytes(19), "shorter"),
    (struct.pack("!12sB7s", bytes(12), 4 << 4, bytes(7)), "data offset"),
    (struct.pack("!12sB7s", bytes(12), 6 << 4, bytes(7)), "data offset"),
    (struct.pack("!12sB7s", bytes(12), 6 << 4, bytes(7)) + bytes((1, 1, 1, 8)), "overruns"),
    (struct.pack("!12sB7s", bytes(12), 6 << 4, bytes(7)) + bytes((8, 10, 0, 0)), "overruns"),
    (struct.pack("!12sB7s", bytes(12), 6 << 4, bytes(7)) + bytes((8, 1, 0, 0)), "overruns"),
])
def test_decode_rejects_what_it_cannot_read(minimal, wire, message):
    with pytest.raises(ValueError, match=message):
        minimal.decode(wire)


def test_none_is_refused(minimal):
    with pytest.raises(TypeError):
        minimal.decode(None)
    with pytest.raises(TypeError):
        minimal.encode(None, bytes(4), bytes(4))


@given(st.binary(max_size=80))
def test_decode_never_reads_outside_its_input(data):
    minimal = _minimal()
    try:
        fields = record_fields(minimal.decode(data))
    except ValueError:
        return
    assert 20 <= fields[4] <= len(data) and fields[10] == data[fields[4]:]


def _record(options=(), header_len=20, payload=b""):
    return (1, 2, 3, 4, header_len, 0x10, 5, 0, 0, options, payload)


@pytest.mark.parametrize("record, src, error", [
    (_record(), b"\x00" * 16, ValueError),
    (_record(header_len=22), b"\x00" * 4, ValueError),
    (_record(header_len=64), b"\x00" * 4, ValueError),
    (_record(((8, (1, 2)),)), b"\x00" * 4, ValueError),  # no room in a 20-byte header
    (_record(((5, tuple((n, n) for n in range(5))),), header_len=60), b"\x00" * 4, ValueError),
    (_record(((7, b"x"),), header_len=24), b"\x00" * 4, ValueError),
    (_record(((5, [(1, 2)]),), header_len=32), b"\x00" * 4, TypeError),
    (_record(((8, ()),), header_len=32), b"\x00" * 4, IndexError),
    (_record(((8, (1, -2)),), header_len=32), b"\x00" * 4, OverflowError),
    (_record(payload=bytes(65536)), b"\x00" * 4, ValueError),
    (_record()[:5], b"\x00" * 4, IndexError),
])
def test_encode_rejects_what_it_cannot_write(minimal, record, src, error):
    with pytest.raises(error):
        minimal.encode(record, src, b"\x00" * len(src))


def test_record_attributes_are_its_fields(minimal, corpus):
    record = minimal.decode(corpus.wires[0])
    names = ("src_port", "dst_port", "seq", "ack", "header_len", "flags", "window", "checksum", "urgent",
             "options", "payload")
    assert tuple(getattr(record, name) for name in names) == corpus.fields[0]
    with pytest.raises(AttributeError):
        record.seq = 1


@given(st.binary(max_size=300))
def test_plain_checksum_is_rfc_1071(data):
    from harness.corpus import ones_sum

    assert _minimal().plain_checksum(data) == ~ones_sum(data) & 0xFFFF


def test_empty_takes_two_arguments_and_returns_none(minimal):
    assert minimal.empty(1, 2) is None
    with pytest.raises(TypeError):
        minimal.empty(1)
