"""The compiled option walk (``_options_c``) against its reference, ``_options_py``."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import compiled_twin
from hypothesis import given
from hypothesis import strategies as st

from fastseg import _options_py, _wire
from fastseg.errors import Anomaly, EncodeError


def _python_decode(header: bytes, strict: bool) -> tuple[Any, tuple[Anomaly, ...]]:
    anomalies: list[Anomaly] = []

    def problem(anomaly: Anomaly) -> None:
        if strict:
            raise anomaly.exception()
        anomalies.append(anomaly)

    header_len = (header[_wire.DATA_OFFSET] >> 4) * _wire.OFFSET_UNIT
    end = min(max(header_len, _wire.HEADER_LEN), len(header))
    return _options_py.unpack_options(header, end, problem), tuple(anomalies)


def _outcome(decode: Any, header: bytes, strict: bool) -> Any:
    try:
        return decode(header, strict)
    except Exception as exc:  # the same error, with the same message
        return type(exc), str(exc)


_OPTION_BYTES = st.one_of(
    st.binary(max_size=40),
    st.lists(st.sampled_from([b"\x01", b"\x00", b"\x02\x04\x05\xb4", b"\x03\x03\x07", b"\x04\x02",
                              b"\x08\x0a" + bytes(range(8)), b"\x05\x0a" + bytes(8),
                              b"\x05\x12" + bytes(16), b"\x02\x05\x00\x00\x00", b"\x05\x03",
                              b"\xfe\x01", b"\x1e\x04ab", b"\x08\x0b"]), max_size=12)
    .map(b"".join),
)


@given(options=_OPTION_BYTES, offset=st.integers(0, 15), strict=st.booleans())
def test_compiled_decode_agrees(options: bytes, offset: int, strict: bool) -> None:
    compiled = compiled_twin("options")
    header = bytes(12) + bytes([offset << 4]) + bytes(7) + options[:40]
    assert _outcome(compiled.decode, header, strict) == _outcome(_python_decode, header, strict)


@pytest.mark.parametrize("option", [
    (2, 1460), (3, 7), (4, None), (8, (1, 2**32 - 1)), (5, ((1, 2), (3, 4))), (1, None),
    (0, None), (0, b"\0\0"), (30, b"xy"), (None, b"\x01\x01"), (4, b""), (253, bytes(38)),
])
def test_compiled_encode_agrees(option: Any) -> None:
    assert compiled_twin("options").pack_option(option) == _options_py.pack_options([option])


@pytest.mark.parametrize("option", [
    (2, -1), (2, 2**16), (3, 256), (1, b""), (8, (1,)), (5, ()), (5, ((1, 2**32),)), (6, 1),
    (256, None), ("2", 1), (2, 1.0), (2,), (8, bytes(254)),
])
def test_compiled_encode_leaves_the_rest_to_the_reference(option: Any) -> None:
    assert compiled_twin("options").pack_option(option) is None
    with pytest.raises((EncodeError, TypeError, ValueError)):
        _options_py.pack_options([option])


def test_compiled_encode_takes_tuples_only() -> None:
    assert compiled_twin("options").pack_option([2, 1460]) is None
    assert _options_py.pack_options([[2, 1460]]) == b"\x02\x04\x05\xb4"


def test_misfit_is_the_length_rule() -> None:
    for kind, length in _wire.FIXED_LENGTHS.items():
        assert not _options_py.misfit(kind, length) and _options_py.misfit(kind, length + 1)
    assert not _options_py.misfit(_wire.SACK, _wire.MIN_SACK_LEN)
    assert _options_py.misfit(_wire.SACK, _wire.MIN_SACK_LEN + 1)
    assert not _options_py.misfit(99, 3)
