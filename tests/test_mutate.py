"""fastseg.mutate: determinism by seed, what each operator does, checksum modes, real captures.

Every operator test decodes the mutated bytes and checks that the field,
option or byte named in the mutation's description changed as described, and
that nothing else did.
"""

from __future__ import annotations

import doctest
import os
import random
import re
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import pytest

import fastseg
from fastseg import DecodeError, Flags, OptionKind, Segment, mutate
from fastseg.mutate import CHECKSUM_MODES, MAX_LENGTH, OPERATORS, Mutation, Mutator

try:
    import pcapfile
except ImportError:  # e.g. with --import-mode=importlib
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pcapfile

CAPTURES = sorted((Path(__file__).resolve().parent / "data" / "captures").glob("*.pcap"))
RECORDS = [record for path in CAPTURES for record in pcapfile.read_tcp(path)]


def _samples() -> List[Any]:
    """A varied handful of real segments: each capture's first, its first with
    payload, and its first with SACK blocks, urgent data or a full option space."""
    chosen: Dict[bytes, Any] = {}
    for path in CAPTURES:
        records = pcapfile.read_tcp(path)
        picks = [
            records[0],
            next((r for r in records if len(fastseg.unpack(r.segment).payload) > 100), None),
            next((r for r in records if fastseg.unpack(r.segment).sack_blocks), None),
            next((r for r in records if fastseg.unpack(r.segment).urgent), None),
            next((r for r in records if fastseg.unpack(r.segment).header_len == 60), None),
        ]
        for record in picks:
            if record is not None:
                chosen.setdefault(record.segment, record)
    return list(chosen.values())


SAMPLES = _samples()
SYN = SAMPLES[0].segment  # a Linux SYN with MSS, SACK-permitted, timestamps, NOP, window scale

FIELDS = ("src_port", "dst_port", "seq", "ack", "data_offset", "reserved", "flags", "window", "urgent")


def lenient(data: bytes) -> Segment:
    segment: Segment = fastseg.unpack(data, strict=False)
    return segment


def field(segment: Segment, name: str) -> int:
    return segment.header_len // 4 if name == "data_offset" else int(getattr(segment, name))


def fields(segment: Segment) -> Dict[str, int]:
    return {name: field(segment, name) for name in FIELDS}


def applied(
    name: str, inputs: Sequence[bytes] = (), n: int = 25, **settings: Any
) -> List[Tuple[bytes, Mutation]]:
    """(input, mutation) pairs in which operator ``name`` alone did the work."""
    found = []
    for seed, data in enumerate(inputs or [s.segment for s in SAMPLES]):
        for mutation in Mutator(seed, operators=[name], **settings).mutations(data, n):
            if mutation.operators == (name,):
                found.append((data, mutation))
    assert found, f"operator {name} never applied"
    return found


def step(mutation: Mutation) -> str:
    assert len(mutation.steps) == 1
    return mutation.steps[0][1]


def body(segment: Segment) -> List[Any]:
    """The options before the first EOL or undecoded bytes (padding decodes as EOL)."""
    options = list(segment.options)
    for index, (kind, _) in enumerate(options):
        if kind is None or kind == OptionKind.EOL:
            return options[:index]
    return options


def fixed_unchanged(before: bytes, after: bytes) -> None:
    assert after[16:18] == before[16:18]  # "keep" mode: the checksum field is the input's


# ---------------------------------------------------------------- determinism


def test_same_seed_and_input_give_the_same_sequence() -> None:
    for record in SAMPLES[:6]:
        first = list(Mutator(42, stack=3).mutations(record.segment, 60))
        random.seed(1234)  # the global random state plays no part
        second = list(Mutator(42, stack=3).mutations(record.segment, 60))
        assert first == second
        assert [m.index for m in first] == list(range(60))


def test_different_seeds_give_different_sequences() -> None:
    sequences = {
        tuple(m.data for m in Mutator(seed).mutations(SYN, 20)) for seed in (0, 1, 2, "0", "a")
    }
    assert len(sequences) == 5


def test_replay_by_index_without_advancing() -> None:
    mutator = Mutator(9, checksum="fix", src="10.0.0.1", dst="10.0.0.2", stack=2)
    sequence = list(mutator.mutations(SYN, 30))
    replayer = Mutator(9, checksum="fix", src="10.0.0.1", dst="10.0.0.2", stack=2)
    for mutation in reversed(sequence):
        assert replayer.mutate(SYN, index=mutation.index) == mutation
    assert replayer.mutate(SYN) == sequence[0]  # replays left the counter alone


def test_interleaved_inputs_and_mutators_do_not_interfere() -> None:
    other = SAMPLES[1].segment
    alone = list(Mutator(5).mutations(SYN, 10))
    mixed_a, mixed_b, noise = Mutator(5), Mutator(5), Mutator(6)
    for index in range(10):
        noise.mutate(other)
        assert mixed_a.mutate(SYN) == alone[index]
        mixed_b.mutate(other)
    # one Mutator over several inputs: mutation n depends on (seed, n, input) only
    assert [m.data for m in mixed_b.mutations(SYN, 5)] == [
        Mutator(5).mutate(SYN, index=i).data for i in range(10, 15)
    ]


def test_deterministic_across_processes_and_hash_seeds() -> None:
    code = (
        "import hashlib, sys; from fastseg.mutate import Mutator; "
        "data = bytes.fromhex(sys.argv[1]); h = hashlib.sha256(); "
        "[h.update(m.data + m.description.encode()) for m in Mutator('s', stack=3).mutations(data, 200)]; "
        "print(h.hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        result = subprocess.run([sys.executable, "-c", code, SYN.hex()], env=env,
                                capture_output=True, text=True, check=True,
                                cwd=tempfile.gettempdir())  # away from the source tree
        digests.add(result.stdout.strip())
    assert len(digests) == 1


# ---------------------------------------------------------------- the API


def test_operators_are_listed_and_documented() -> None:
    assert list(OPERATORS) == [
        "bitflip", "boundary", "flags", "seq_shift", "option_insert", "option_remove",
        "option_duplicate", "option_reorder", "option_length", "option_eol", "option_overflow",
        "truncate", "extend", "payload", "raw",
    ]
    assert mutate.__doc__ is not None
    for name, summary in OPERATORS.items():
        assert f"``{name}``" in mutate.__doc__ and summary


def test_module_example() -> None:
    failed, attempted = doctest.testmod(mutate, optionflags=doctest.ELLIPSIS)
    assert attempted and not failed


def test_mutator_repr() -> None:
    mutator = Mutator("x", window=1000)
    mutator.mutate(SYN)
    assert repr(mutator) == "Mutator('x', checksum='keep', window=1000, stack=1, next index 1)"


def test_mutation_record() -> None:
    mutation = Mutator(3, checksum="break", src="::1", dst="::2").mutate(SYN)
    assert bytes(mutation) == mutation.data
    assert mutation.operators == tuple(name for name, _ in mutation.steps)
    assert mutation.description.endswith(mutation.checksum_note)
    assert mutation.checksum_note.startswith("checksum broken")
    assert str(mutation).startswith("mutation 0 of seed 3: ")


@pytest.mark.parametrize("kwargs, error", [
    ({"checksum": "wrong"}, ValueError),
    ({"checksum": "fix"}, ValueError),
    ({"checksum": "break", "src": "10.0.0.1"}, ValueError),
    ({"checksum": "fix", "src": "10.0.0.1", "dst": "::1"}, fastseg.EncodeError),
    ({"checksum": "fix", "src": b"\1\2\3", "dst": b"\1\2\3"}, fastseg.EncodeError),
    ({"operators": ["nope"]}, ValueError),
    ({"operators": "raw"}, TypeError),
    ({"operators": []}, ValueError),
    ({"operators": {"raw": 0}}, ValueError),
    ({"operators": {"raw": -1}}, ValueError),
    ({"operators": {"raw": float("nan")}}, ValueError),
    ({"stack": 0}, ValueError),
    ({"window": 0}, ValueError),
    ({"window": 2**31}, ValueError),
    ({"max_len": 19}, ValueError),
])
def test_bad_settings_are_refused(kwargs: Dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        Mutator(0, **kwargs)


def test_bad_seed_and_index() -> None:
    with pytest.raises(TypeError):
        Mutator(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Mutator(0).mutate(SYN, index=-1)
    with pytest.raises(TypeError):
        Mutator(0).mutate("not bytes")


def test_weights_select_and_weigh() -> None:
    counts = {"bitflip": 0, "raw": 0}
    for mutation in Mutator(1, operators={"bitflip": 9, "raw": 1, "flags": 0}).mutations(SYN, 500):
        counts[mutation.operators[0]] += 1
    assert sum(counts.values()) == 500 and 380 < counts["bitflip"] < 490


def test_fallback_to_raw_when_no_selected_operator_applies() -> None:
    bare = fastseg.pack(Segment(src_port=1, dst_port=2, flags=Flags.ACK))  # no options
    mutation = Mutator(0, operators=["option_remove", "option_reorder"]).mutate(bare)
    assert mutation.operators == ("raw",)
    assert "no selected operator applied" in mutation.description
    assert mutation.data != bare


def test_stacked_mutations() -> None:
    lengths = {len([n for n in m.operators if n != "cut"]) for m in Mutator(2, stack=3).mutations(SYN, 100)}
    assert lengths == {1, 2, 3}


def test_every_operator_is_reached_by_default() -> None:
    seen: set[str] = set()
    for seed, record in enumerate(SAMPLES):
        for mutation in Mutator(seed).mutations(record.segment, 40):
            seen.update(mutation.operators)
    assert set(OPERATORS) <= seen


# ---------------------------------------------------------------- what each operator does


def test_bitflip() -> None:
    names = set()
    for data, mutation in applied("bitflip"):
        match = re.fullmatch(r"flip bit (\d+) of (\w+) \((\S+) -> (\S+)\)", step(mutation))
        assert match, mutation
        bit, name = int(match[1]), match[2]
        before, after = fields(lenient(data)), fields(lenient(mutation.data))
        assert after[name] == before[name] ^ (1 << bit)
        assert {k: v for k, v in after.items() if k != name} == {k: v for k, v in before.items() if k != name}
        assert mutation.data[20:] == data[20:] and len(mutation.data) == len(data)
        fixed_unchanged(data, mutation.data)
        names.add(name)
    assert names == set(FIELDS)


def test_boundary() -> None:
    names = set()
    for data, mutation in applied("boundary"):
        match = re.fullmatch(r"(\w+) = (\d+) \(was (\d+); boundary\)", step(mutation))
        if match is None:  # flags and reserved are shown by name / in binary
            match = re.fullmatch(r"(reserved) = 0b([01]+) \(was 0b([01]+); boundary\)", step(mutation))
            assert match, mutation
            new, old = int(match[2], 2), int(match[3], 2)
        else:
            new, old = int(match[2]), int(match[3])
        name = match[1]
        before, after = lenient(data), lenient(mutation.data)
        assert (field(before, name), field(after, name)) == (old, new) and old != new
        if name in ("seq", "ack"):
            assert new in (0, 1, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 2, 2**32 - 1)
        elif name in ("src_port", "dst_port", "window"):
            assert new in (0, 1, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
        elif name == "urgent":
            size = len(before.payload)
            assert new in (0, 1, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF, size - 1, size, size + 1)
        assert mutation.data[20:] == data[20:]
        names.add(name)
    assert names == set(FIELDS) - {"flags"}


def test_flags() -> None:
    combos = {"no flags": 0, "SYN+FIN": 0x3, "SYN+RST": 0x6, "SYN+FIN+RST": 0x7,
              "all nine flags": 0x1FF, "AE alone": 0x100, "Xmas: FIN+PSH+URG": 0x29}
    seen = set()
    pattern = r"flags = (\S+?)(?:, reserved = (0b[01]+))? \(was (\S+?)(?:, reserved (0b[01]+))?; (.+)\)"
    for data, mutation in applied("flags"):
        match = re.fullmatch(pattern, step(mutation))
        assert match, mutation
        before, after = lenient(data), lenient(mutation.data)
        assert str(after.flags) == match[1] and str(before.flags) == match[3]
        if match[2]:
            assert (after.reserved, before.reserved) == (int(match[2], 2), int(match[4], 2))
        else:
            assert after.reserved == before.reserved
        what = match[5]
        if what in combos:
            assert after.flags == combos[what]
        elif what == "all flags and reserved bits":
            assert (after.flags, after.reserved) == (0x1FF, 7)
        elif what.startswith("toggle "):
            assert after.flags ^ before.flags == Flags[what[len("toggle "):]]
        seen.add(what.split()[0])
        assert mutation.data[:12] == data[:12] and mutation.data[14:] == data[14:]
    assert {"toggle", "random", "SYN+FIN", "SYN+RST", "all", "no"} <= seen


@pytest.mark.parametrize("window", [65535, 1000])
def test_seq_shift(window: int) -> None:
    shifts = {window, window + 1, 2**31, 2**31 - 1, 1}
    seen = set()
    for data, mutation in applied("seq_shift", window=window):
        before, after = lenient(data), lenient(mutation.data)
        text = step(mutation)
        match = re.fullmatch(r"(seq|ack) ([+-])= (\d+) \((.+); (\d+) -> (\d+)\)", text)
        if match:
            name, shift = match[1], int(match[3]) * (1 if match[2] == "+" else -1)
            assert abs(shift) in shifts
            assert (field(after, name) - field(before, name)) % 2**32 == shift % 2**32
            assert (field(before, name), field(after, name)) == (int(match[5]), int(match[6]))
            seen.add(shift)
        else:
            match = re.fullmatch(r"(seq|ack) = 0 \(was (\d+); to 0\)", text)
            assert match, mutation
            name = match[1]
            assert field(after, name) == 0 and field(before, name) == int(match[2])
            seen.add(0)
        other = "ack" if name == "seq" else "seq"
        assert field(after, other) == field(before, other) and mutation.data[12:] == data[12:]
    assert seen == {0, window, -window, window + 1, -window - 1, 2**31, 2**31 - 1, -(2**31 - 1), 1, -1}


def test_option_insert() -> None:
    kinds, whats = set(), set()
    for data, mutation in applied("option_insert"):
        match = re.fullmatch(r"options: insert (.+) at #(\d+) \((.+)\)", step(mutation))
        assert match, mutation
        position = int(match[2])
        before, after = lenient(data), lenient(mutation.data)
        new = body(after)
        inserted = new.pop(position)
        assert new == body(before)
        kind = inserted[0]
        label = kind.name if isinstance(kind, OptionKind) else f"kind {kind}"
        assert match[1].startswith(label)
        assert after.payload == before.payload and mutation.data[:12] == data[:12]
        kinds.add(int(kind))
        whats.add(match[3].split()[0])
        if match[3] == "unknown kind":
            assert not isinstance(kind, OptionKind)
        if match[3].startswith("wrong length"):
            length = int(match[3].split()[-1])
            assert 2 + len(inserted[1]) == length
            assert any(a.error is fastseg.BadOption for a in after.anomalies)
        if match[3] == "shift count above 14":
            assert kind == OptionKind.WSCALE and inserted[1] > 14
    assert {int(k) for k in OptionKind} - {0} <= kinds  # every named kind but EOL (option_eol's)
    assert whats == {"valid", "wrong", "shift", "unknown"}


def test_option_remove() -> None:
    for data, mutation in applied("option_remove"):
        match = re.fullmatch(r"options: remove (.+) \(#(\d+)\)", step(mutation))
        assert match, mutation
        position = int(match[2])
        before, after = lenient(data), lenient(mutation.data)
        expected = body(before)
        if position < len(expected):
            del expected[position]
        assert body(after) == expected and after.payload == before.payload


def test_option_duplicate() -> None:
    for data, mutation in applied("option_duplicate"):
        match = re.fullmatch(r"options: duplicate (.+) \(#(\d+)\)", step(mutation))
        assert match, mutation
        position = int(match[2])
        before, after = lenient(data), lenient(mutation.data)
        expected = body(before)
        expected.insert(position, expected[position])
        assert body(after) == expected and after.payload == before.payload


def test_option_reorder() -> None:
    forms = set()
    for data, mutation in applied("option_reorder"):
        before, after = lenient(data), lenient(mutation.data)
        old, new = body(before), body(after)
        text = step(mutation)
        match = re.fullmatch(r"options: swap #(\d+) (.+) and #(\d+) (.+)", text)
        if match:
            i, j = int(match[1]), int(match[3])
            assert (new[i], new[j]) == (old[j], old[i]) and new[i] != new[j]
            assert [o for n, o in enumerate(new) if n not in (i, j)] == [
                o for n, o in enumerate(old) if n not in (i, j)
            ]
            forms.add("swap")
        else:
            assert re.fullmatch(r"options: reverse the order of #0..#(\d+)", text), mutation
            assert new == old[::-1] != old
            forms.add("reverse")
        assert after.payload == before.payload
    assert forms == {"swap", "reverse"}


def test_option_length() -> None:
    whats = set()
    for data, mutation in applied("option_length"):
        match = re.fullmatch(r"options: length byte of (.+) \(#(\d+), byte (\d+)\) (\d+) -> (\d+) \((.+)\)",
                             step(mutation))
        assert match, mutation
        at, old, new, what = int(match[3]), int(match[4]), int(match[5]), match[6]
        assert (data[at], mutation.data[at]) == (old, new)
        assert mutation.data[:at] == data[:at] and mutation.data[at + 1 :] == data[at + 1 :]
        before = lenient(data)
        kind, _ = before.options[int(match[2])]
        assert data[at - 1] == kind  # the byte before the length byte is the option's kind
        after = lenient(mutation.data)
        if what in ("below 2", "past the header"):
            assert any(a.error is fastseg.BadOption and a.offset == at - 1 for a in after.anomalies)
        whats.add(what)
    assert whats == {"below 2", "one short", "one long", "past the header", "the largest"}


def test_option_eol() -> None:
    forms = set()
    for data, mutation in applied("option_eol"):
        text = step(mutation)
        before, after = lenient(data), lenient(mutation.data)
        kinds = [kind for kind, _ in after.options]
        match = re.fullmatch(r"options: EOL at #(\d+), (\d+) option bytes after it", text)
        if match:
            position = int(match[1])
            assert body(after) == body(before)[:position]
            assert kinds[position] == OptionKind.EOL and len(after.options[position][1]) >= int(match[2])
            forms.add("insert")
        else:
            pattern = r"options: EOL at #(\d+) with (\d+) garbage bytes after it \(0x(\w+)\)"
            match = re.fullmatch(pattern, text)
            assert match, mutation
            position, garbage = int(match[1]), bytes.fromhex(match[3])
            assert len(garbage) == int(match[2]) and 0 not in garbage
            assert body(after) == body(before) and len(body(after)) == position
            assert after.options[position][0] == OptionKind.EOL
            assert after.options[position][1].startswith(garbage)
            forms.add("garbage")
        assert after.payload == before.payload
    assert forms == {"insert", "garbage"}


def test_option_overflow() -> None:
    forms = set()
    for data, mutation in applied("option_overflow"):
        match = re.fullmatch(r"options: (\d+) option bytes, data offset (\d+) \((.+)\); "
                             r"(\d+) bytes spill into the payload", step(mutation))
        assert match, mutation
        size, offset, spill = int(match[1]), int(match[2]), int(match[4])
        before, after = lenient(data), lenient(mutation.data)
        assert size > 40 and mutation.data[12] >> 4 == offset
        assert len(mutation.data) == 20 + size + len(before.payload)
        assert len(after.payload) == spill + len(before.payload)
        assert mutation.data.endswith(before.payload)
        forms.add(match[3].split(":")[0])
    assert forms == {"says 15", "wraps"}


def test_truncate() -> None:
    regions = set()
    for data, mutation in applied("truncate"):
        match = re.fullmatch(r"truncate (\d+) -> (\d+) bytes \((.+)\)", step(mutation))
        assert match, mutation
        cut, where = int(match[2]), match[3]
        assert int(match[1]) == len(data) and mutation.data[:cut] == data[:cut]
        assert len(mutation.data) == cut
        header_end = len(data) - len(lenient(data).payload)
        assert {"inside the fixed header": cut < 20,
                "inside the options": 20 <= cut < header_end,
                "inside the payload": header_end < cut < len(data),
                "drop the whole payload": cut == header_end}[where]
        regions.add(where)
    assert len(regions) == 4


def test_extend() -> None:
    forms = set()
    for data, mutation in applied("extend"):
        match = re.fullmatch(r"extend (\d+) -> (\d+) bytes \((\d+) (.+)\)", step(mutation))
        assert match, mutation
        size, grown, what = int(match[2]), int(match[3]), match[4]
        assert len(mutation.data) == size == len(data) + grown <= MAX_LENGTH
        tail = mutation.data[len(data):]
        assert mutation.data[: len(data)] == data
        if what == "zero bytes":
            assert tail == bytes(grown)
        elif what == "payload bytes again":
            assert tail == lenient(data).payload[:grown]
        elif what.startswith("copies of "):
            byte = int(what.split()[2].rstrip(","), 16)
            assert size == MAX_LENGTH and tail == bytes((byte,)) * grown
            what = "copies"
        else:
            assert what == "random bytes" and grown <= 16
        forms.add(what)
    assert forms == {"zero bytes", "payload bytes again", "copies", "random bytes"}


def byte_edit(text: str, before: bytes, base: int) -> Tuple[str, bytes]:
    """The verb of a flip / set / delete / insert / repeat described relative to ``base``,
    and the bytes it makes of ``before`` (checking the old values it names)."""
    match = re.fullmatch(r"flip bit (\d) of byte (\d+) \(0x(\w\w) -> 0x(\w\w)\)", text)
    if match:
        at, new = base + int(match[2]), int(match[4], 16)
        assert before[at] == int(match[3], 16) and new == before[at] ^ (1 << int(match[1]))
        return "flip", before[:at] + bytes((new,)) + before[at + 1 :]
    match = re.fullmatch(r"set byte (\d+) 0x(\w\w) -> 0x(\w\w)", text)
    if match:
        at, new = base + int(match[1]), int(match[3], 16)
        assert before[at] == int(match[2], 16) != new
        return "set", before[:at] + bytes((new,)) + before[at + 1 :]
    match = re.fullmatch(r"delete byte (\d+) \(0x(\w\w)\)", text)
    if match:
        at = base + int(match[1])
        assert before[at] == int(match[2], 16)
        return "delete", before[:at] + before[at + 1 :]
    match = re.fullmatch(r"insert byte 0x(\w\w) at (\d+)", text)
    if match:
        at = base + int(match[2])
        return "insert", before[:at] + bytes.fromhex(match[1]) + before[at:]
    match = re.fullmatch(r"repeat (\d+) bytes at byte (\d+)", text)
    assert match, text
    at, size = base + int(match[2]), int(match[1])
    return "repeat", before[:at] + before[at : at + size] + before[at:]


def test_payload() -> None:
    verbs = set()
    for data, mutation in applied("payload"):
        text = step(mutation)
        assert text.startswith("payload: ")
        start = len(data) - len(lenient(data).payload)
        verb, expected = byte_edit(text[len("payload: ") :], data, start)
        assert mutation.data == expected
        verbs.add(verb)
    assert verbs == {"flip", "set", "delete", "insert", "repeat"}


def test_raw() -> None:
    verbs = set()
    for data, mutation in applied("raw", n=40):
        text = step(mutation)
        assert text.startswith("raw: ")
        verb, expected = byte_edit(text[len("raw: ") :], data, 0)
        # "keep" mode restores the checksum field last, even where an edit shifted it
        assert mutation.data == expected[:16] + data[16:18] + expected[18:]
        verbs.add(verb)
    assert verbs == {"flip", "set", "delete", "insert"}


# ---------------------------------------------------------------- checksum modes


def test_checksum_modes_on_real_segments() -> None:
    for index, record in enumerate(RECORDS):
        src, dst, data = record.src, record.dst, record.segment
        for mutation in Mutator(index, checksum="fix", src=src, dst=dst, stack=2).mutations(data, 3):
            assert fastseg.verify_checksum(src, dst, mutation.data), mutation
        for mutation in Mutator(index, checksum="break", src=src, dst=dst, stack=2).mutations(data, 3):
            assert not fastseg.verify_checksum(src, dst, mutation.data), mutation
        for mutation in Mutator(index, checksum="keep", stack=2).mutations(data, 3):
            if len(mutation.data) >= 18:
                assert mutation.data[16:18] == record.segment[16:18], mutation
            else:
                assert mutation.checksum_note == "checksum kept (no checksum field)"


class _Scripted(random.Random):
    """A Random whose randrange answers from a script first (pass ``answers`` by keyword:
    Python 3.9's Random.__new__ would try to seed with a positional list)."""

    def __init__(self, *, answers: List[int]) -> None:
        super().__init__(0)
        self.answers = answers

    def randrange(self, *args: Any, **kwargs: Any) -> int:
        return self.answers.pop(0) if self.answers else super().randrange(*args, **kwargs)


def test_break_mode_where_both_zeros_verify() -> None:
    """Where the right checksum is 0x0000, 0xffff verifies too: "break" must avoid both."""
    src, dst = "10.0.0.1", "10.0.0.2"
    plain = Segment(seq=7, flags=Flags.ACK)
    # the urgent field absorbs the sum, leaving a one's-complement sum of 0xffff
    zero = fastseg.pack(plain.replace(urgent=fastseg.tcp_checksum(src, dst, fastseg.pack(plain))))
    assert fastseg.tcp_checksum(src, dst, zero) == 0
    mutator = Mutator(0, checksum="break", src=src, dst=dst)
    broken, note = mutator._finish(_Scripted(answers=[0xFFFF, 0x0001]), zero, zero)  # first try: 0 ^ 0xffff
    assert not fastseg.verify_checksum(src, dst, broken)
    assert broken[16:18] == b"\x00\x01" and note == "checksum broken (0x0001, right is 0x0000)"
    fixed, note = Mutator(0, checksum="fix", src=src, dst=dst)._finish(_Scripted(answers=[]), zero, zero)
    assert fastseg.verify_checksum(src, dst, fixed)


@pytest.mark.parametrize("size", range(0, 20))
def test_short_inputs(size: int) -> None:
    data = bytes(range(100, 100 + size))
    for mutation in Mutator(size).mutations(data, 20):
        assert set(mutation.operators) <= {"truncate", "extend", "raw"}
        assert mutation.data != data
    for mutation in Mutator(size, checksum="fix", src="::1", dst="::2").mutations(data, 20):
        assert len(mutation.data) >= 20 and fastseg.verify_checksum("::1", "::2", mutation.data)
        if "zero-padded" in mutation.checksum_note:
            assert len(mutation.data) == 20


# ---------------------------------------------------------------- robustness and the twins


def outcome(unpack: Callable[..., Segment], data: bytes, strict: bool) -> Any:
    try:
        return unpack(data, strict=strict)
    except DecodeError as exc:
        return (type(exc), exc.args)


def twins_agree(twins: Tuple[types.SimpleNamespace, types.SimpleNamespace], data: bytes) -> None:
    cython, python = twins
    for strict in (True, False):
        compiled, reference = outcome(cython.unpack, data, strict), outcome(python.unpack, data, strict)
        assert compiled == reference, f"twins disagree (strict={strict}) on {data.hex()}"


def test_real_segments(twins: Tuple[types.SimpleNamespace, types.SimpleNamespace]) -> None:
    """Mutations of every segment in the captures: no exception, bounded, twins agree."""
    for index, record in enumerate(RECORDS):
        for mode in CHECKSUM_MODES:
            mutator = Mutator(index, checksum=mode, src=record.src, dst=record.dst, stack=3)
            for mutation in mutator.mutations(record.segment, 4):
                bound = 0xFFFF if mode != "keep" and record.version == 4 else MAX_LENGTH
                assert len(mutation.data) <= bound
                twins_agree(twins, mutation.data)


MALFORMED = [
    bytes.fromhex("9c4001bb000000000000000060020000000000000203 05b4".replace(" ", "")),  # MSS length 3
    bytes.fromhex("9c4001bb0000000000000000f0020000000000000204"),  # header past the buffer
    bytes.fromhex("9c4001bb000000000000000020020000000000004142434445"),  # data offset 2
    bytes.fromhex("9c4001bb00000000000000006002000000000000fe00aaaa"),  # option length 0
    bytes.fromhex("9c4001bb000000000000000070020000000000000008aaaaaaaa0000"),  # garbage after EOL
    bytes(20),
]


def test_malformed_and_random_inputs(twins: Tuple[types.SimpleNamespace, types.SimpleNamespace]) -> None:
    rng = random.Random(0)
    inputs = MALFORMED + [bytes(rng.getrandbits(8) for _ in range(rng.randrange(80))) for _ in range(150)]
    for index, data in enumerate(inputs):
        for mode in CHECKSUM_MODES:
            for mutation in Mutator(index, checksum=mode, src="10.1.1.1", dst="10.1.1.2",
                                    stack=4).mutations(data, 6):
                assert len(mutation.data) <= MAX_LENGTH
                twins_agree(twins, mutation.data)


def test_structured_operators_work_on_lenient_decodings() -> None:
    for data in MALFORMED:
        names = {m.operators[0] for m in Mutator(1).mutations(data, 200)}
        assert {"bitflip", "boundary", "flags", "seq_shift", "option_insert", "option_overflow"} <= names


def test_length_bound() -> None:
    big = fastseg.pack(Segment(flags=Flags.ACK, payload=bytes(MAX_LENGTH - 30)))
    for mutation in Mutator(0, stack=4).mutations(big, 40):
        assert len(mutation.data) <= MAX_LENGTH
    cut = Mutator(0, operators=["option_insert"]).mutate(big + bytes(40))
    assert len(cut.data) == MAX_LENGTH and cut.operators[-1] == "cut"
    for mutation in Mutator(0, max_len=64, operators=["extend", "payload"]).mutations(SYN, 50):
        assert len(mutation.data) <= 64
    # IPv4 checksums count 16 bits of length: "fix" stays within 65535 bytes
    for mutation in Mutator(0, checksum="fix", src="10.0.0.1", dst="10.0.0.2",
                            operators=["extend"]).mutations(big, 10):
        assert len(mutation.data) <= 0xFFFF
        assert fastseg.verify_checksum("10.0.0.1", "10.0.0.2", mutation.data)


def test_input_buffers() -> None:
    expected = Mutator(4).mutate(SYN)
    for buffer in (bytearray(SYN), memoryview(SYN), memoryview(bytearray(SYN))):
        assert Mutator(4).mutate(buffer) == expected


def test_option_insert_skips_when_full() -> None:
    full = fastseg.pack(Segment(options=[(OptionKind.NOP, None)] * 40))
    for mutation in Mutator(0, operators=["option_insert"]).mutations(full, 10):
        assert mutation.operators == ("raw",)
