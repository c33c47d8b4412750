"""32-bit wrap-around sequence arithmetic in pure Python: the reference twin of ``_seq_c``.

Comparison follows RFC 9293 §3.4 the way Linux ``before()``/``after()`` do: by
the sign of the 32-bit difference.  Two numbers exactly 2**31 apart (antipodes)
are each "before" the other: ``seq_lt(a, b)`` and ``seq_lt(b, a)`` are both
true, and so are both ``seq_gt``.  Keep windows below 2**31 and this never
matters; a caller that must order antipodes has to decide by other means.
"""

from __future__ import annotations

from fastseg import _wire, errors

__all__ = ["seq_add", "seq_diff", "seq_ge", "seq_gt", "seq_in_window", "seq_le", "seq_lt"]


def _check(name: str, value: int) -> int:
    number = _wire.uint(value, _wire.U32)
    if number is None:
        raise errors.seq_error(name, value)
    return number


def _distance(a: int, b: int) -> int:
    """The signed 32-bit difference ``a - b`` of two checked numbers."""
    distance = (a - b) & _wire.U32
    return distance - (1 << 32) if distance >= 1 << 31 else distance


def seq_diff(a: int, b: int) -> int:
    """The signed distance ``a - b`` modulo 2**32, in [-2**31, 2**31)."""
    return _distance(_check("a", a), _check("b", b))


def seq_lt(a: int, b: int) -> bool:
    """``a`` comes before ``b`` (Linux ``before(a, b)``)."""
    return _distance(_check("a", a), _check("b", b)) < 0


def seq_le(a: int, b: int) -> bool:
    """``a`` comes before ``b`` or equals it."""
    return _distance(_check("a", a), _check("b", b)) <= 0


def seq_gt(a: int, b: int) -> bool:
    """``a`` comes after ``b`` (Linux ``after(a, b)``, i.e. ``before(b, a)``)."""
    a = _check("a", a)
    return _distance(_check("b", b), a) < 0


def seq_ge(a: int, b: int) -> bool:
    """``a`` comes after ``b`` or equals it."""
    a = _check("a", a)
    return _distance(_check("b", b), a) <= 0


def seq_add(a: int, n: int) -> int:
    """``a + n`` modulo 2**32; ``n`` is any int, negative to step back."""
    start, step = _check("a", a), _wire.exact_int(n)
    if step is None:
        raise errors.seq_error("n", n)
    return (start + step) & _wire.U32


def seq_in_window(x: int, left: int, size: int) -> bool:
    """``x`` lies in ``[left, left + size)`` modulo 2**32 (an empty window holds nothing)."""
    return ((_check("x", x) - _check("left", left)) & _wire.U32) < _check("size", size)
