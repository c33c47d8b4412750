"""The compiled follower of ``fastseg analyze`` (``fastseg.analyze._script_c``) against the
tracker it stands in for: the same report, to the last field and in the same order, on
every capture here, on generated mixes and on those mixes damaged in the ways captures
are (frames lost, repeated, reordered, cut, corrupted, long pauses, resets), where
connections leave the script part-way and are handed over."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from conftest import compiled_twin, synth_capture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastseg.analyze as analyze
from fastseg import Flags, OptionKind, Segment, capture
from fastseg.analyze import analyze_file
from fastseg.capture import Frame, tcp_frame, write_pcap

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = [*sorted((ROOT / "tests" / "data").glob("*/*.pcap")), ROOT / "fastseg" / "sample.pcap"]
_EPOCH_NS = 1_700_000_000 * 10**9


@pytest.fixture(autouse=True)
def _compiled() -> None:
    compiled_twin("follower")
    if capture.IMPLEMENTATION != "cython":
        pytest.skip("the pure-Python twins serve: the follower is compiled only, and the "
                    "tracker it is held to is what runs")



SYNTH = synth_capture()


def _reports(path: Path, follow: bool, **kwargs: Any) -> Tuple[Dict[str, Any], List[Any], int]:
    """analyze_file's result, the reports in the order they were streamed, and the frames
    the follower took."""
    streamed: List[Any] = []
    followers: List[Any] = []
    real = analyze._follower

    def spy(*args: Any) -> Any:
        follower = real(*args)
        followers.append(follower)
        return follower

    analyze._follower = spy
    try:
        result = analyze_file(str(path), follow=follow, each=streamed.append, **kwargs)
    finally:
        analyze._follower = real
    return result, streamed, followers[0].taken if followers else 0


def _same(path: Path, **kwargs: Any) -> int:
    """Assert both ways give one report; the frames the follower took."""
    followed, streamed, taken = _reports(path, True, **kwargs)
    replayed, streamed_replayed, none = _reports(path, False, **kwargs)
    assert none == 0
    assert followed == replayed
    assert [r["id"] for r in streamed] == [r["id"] for r in streamed_replayed]
    assert streamed == streamed_replayed
    return taken


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("all_frames", [False, True])
def test_every_capture_gives_the_same_report(path: Path, all_frames: bool) -> None:
    _same(path, all_frames=all_frames)


def _write(tmp_path: Path, frames: List[Frame], name: str = "mix.pcap") -> Path:
    path = tmp_path / name
    write_pcap(path, frames, nanosecond=True)
    return path


def _mix(seed: int, segments: int, open_at_once: int, bulk: float, loss: float) -> List[Frame]:
    """A generated mix, 1 ms a frame."""
    return [Frame(frame, _EPOCH_NS + i * 1_000_000)
            for i, frame in enumerate(SYNTH.frames(segments, open_at_once, seed, bulk, loss))]


@pytest.mark.parametrize(("seed", "open_at_once", "bulk", "loss"), [
    (1, 300, 0.1, 0.01), (2, 20, 0.5, 0.0), (3, 50, 0.3, 0.05), (4, 5, 1.0, 0.2),
    (5, 1, 0.0, 0.0)])
def test_generated_mixes_are_followed_to_the_same_report(tmp_path: Path, seed: int,
                                                          open_at_once: int, bulk: float,
                                                          loss: float) -> None:
    frames = _mix(seed, 6000, open_at_once, bulk, loss)
    taken = _same(_write(tmp_path, frames))
    # Every frame of these mixes keeps to the script (loss makes holes, filled later in
    # order): the follower took them all, so the equality above is about its own model.
    assert taken == len(frames)


def _damaged(frames: List[Frame], rng: random.Random, kind: str, count: int) -> List[Frame]:
    """``frames`` with ``count`` damages of ``kind``."""
    out = list(frames)
    for _ in range(count):
        i = rng.randrange(1, len(out) - 1)
        data, ns, _orig = out[i]
        if kind == "drop":
            del out[i]
        elif kind == "repeat":
            out.insert(i, Frame(data, ns))
        elif kind == "swap":
            out[i], out[i + 1] = Frame(out[i + 1].data, ns), Frame(data, out[i + 1].timestamp_ns)
        elif kind == "cut":
            out[i] = Frame(data[:rng.randrange(54, len(data) + 1)], ns, len(data))
        elif kind == "corrupt":
            at = rng.randrange(14, len(data))
            out[i] = Frame(data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1:], ns)
        elif kind == "pause":      # past what the ends' timers allow (never run in a replay)
            pause = rng.choice([49, 51, 61, 130, 300, 700]) * 10**9
            out[i:] = [Frame(d, t + pause, o) for d, t, o in out[i:]]
        elif kind == "reset":      # the TCP flags byte of an Ethernet/IPv4/TCP frame
            flags = 14 + 20 + 13
            out[i] = Frame(data[:flags] + bytes([data[flags] | 0x04]) + data[flags + 1:], ns)
    return out


@pytest.mark.parametrize("kind", ["drop", "repeat", "swap", "cut", "corrupt", "pause", "reset"])
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_damaged_mixes_are_handed_over_to_the_same_report(tmp_path: Path, kind: str,
                                                          seed: int) -> None:
    rng = random.Random(seed)
    frames = _damaged(_mix(seed, 3000, 12, 0.3, 0.02), rng, kind, rng.choice([1, 5, 40]))
    _same(_write(tmp_path, frames))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), open_at_once=st.integers(1, 30),
       bulk=st.sampled_from([0.0, 0.3, 1.0]), loss=st.sampled_from([0.0, 0.05, 0.3]),
       damages=st.lists(st.tuples(st.sampled_from(
           ["drop", "repeat", "swap", "cut", "corrupt", "pause", "reset"]), st.integers(1, 6)),
           max_size=3))
def test_any_mix_and_damage_gives_the_same_report(tmp_path: Path, seed: int, open_at_once: int,
                                                  bulk: float, loss: float,
                                                  damages: List[Tuple[str, int]]) -> None:
    rng = random.Random(seed)
    frames = _mix(seed, 800, open_at_once, bulk, loss)
    for kind, count in damages:
        frames = _damaged(frames, rng, kind, count)
    _same(_write(tmp_path, frames, f"mix-{seed}.pcap"))


def test_a_connection_past_what_is_kept_is_handed_over(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A followed connection keeps its segments for a hand-over up to a bound; past it, it
    is handed over (at the bound, not at a frame off the script) to the same report."""
    real = analyze._follower

    def small(tracker: Any, drain: Any) -> Any:
        follower = real(tracker, drain)
        return type(follower)(tracker, drain, None, 4096, 25)

    monkeypatch.setattr(analyze, "_follower", small)
    path = _write(tmp_path, _mix(31, 2000, 4, 1.0, 0.0))
    _, streamed, taken = _reports(path, True)
    assert 0 < taken < 2000 * 0.2  # each bulk connection left the follower at its 26th frame
    monkeypatch.setattr(analyze, "_follower", real)
    assert streamed == _reports(path, False)[1]


def test_rotated_pieces_give_the_same_report(tmp_path: Path) -> None:
    """A capture in pieces: frame numbers run on across them, connections span them."""
    frames = _mix(21, 3000, 40, 0.3, 0.02)
    pieces = [_write(tmp_path, frames[i:i + 700], f"piece{i}.pcap")
              for i in range(0, len(frames), 700)]
    followed = analyze_file([str(p) for p in pieces])
    assert followed == analyze_file([str(p) for p in pieces], follow=False)
    assert sum(c["segments"]["client"] + c["segments"]["server"]
               for c in followed["connections"]) == len(frames)


# ---------------------------------------------------------------- written conversations

CLIENT, SERVER = ("10.9.0.1", 40000), ("10.9.0.2", 80)
ISS = {CLIENT: 1000, SERVER: 5000}


class _Talk:
    """A conversation written segment by segment, sequence numbers kept per side."""

    def __init__(self, stamps: bool = True, wscale: int = 7, window: int = 512) -> None:
        self.frames: List[Frame] = []
        self.next = {CLIENT: ISS[CLIENT], SERVER: ISS[SERVER]}
        self.acked = {CLIENT: 0, SERVER: 0}
        self.stamps, self.wscale, self.window = stamps, wscale, window
        self.tsval = 100

    def send(self, at: float, sender: Tuple[str, int], flags: str = "A", data: int = 0, *,
             seq: Any = None, ack: Any = None, window: Any = None, tsval: Any = None) -> None:
        receiver = SERVER if sender == CLIENT else CLIENT
        bits = Flags(0)
        for letter, flag in (("S", Flags.SYN), ("A", Flags.ACK), ("F", Flags.FIN),
                             ("R", Flags.RST), ("P", Flags.PSH)):
            if letter in flags:
                bits |= flag
        options: List[Any] = []
        if "S" in flags:
            options = [(OptionKind.MSS, 1460), (OptionKind.WSCALE, self.wscale)]
        if self.stamps:
            self.tsval += 1
            options += [(OptionKind.NOP, None), (OptionKind.NOP, None),
                        (OptionKind.TIMESTAMPS, (self.tsval if tsval is None else tsval, 7))]
        start = self.next[sender] if seq is None else seq
        segment = Segment(src_port=sender[1], dst_port=receiver[1], seq=start,
                          ack=(self.acked[sender] if ack is None else ack) if "A" in flags else 0,
                          flags=bits, window=self.window if window is None else window,
                          options=options, payload=bytes(data))
        self.frames.append(Frame(tcp_frame(segment, sender[0], receiver[0], fix_checksum=True),
                                 _EPOCH_NS + int(at * 1e9)))
        self.next[sender] = max(self.next[sender], start + data + ("S" in flags) + ("F" in flags))
        self.acked[receiver] = self.next[sender]

    def open(self) -> _Talk:
        self.send(0.0, CLIENT, "S")
        self.send(0.01, SERVER, "SA")
        self.send(0.02, CLIENT, "A")
        self.send(0.03, CLIENT, "AP", 100)
        self.send(0.04, SERVER, "A", 1000)
        self.send(0.05, CLIENT, "A")
        return self


def _talks() -> Dict[str, _Talk]:
    talks = {}
    t = talks["fin_wait_2_outlived"] = _Talk().open()   # the server's FIN after 61 s
    t.send(1.0, CLIENT, "FA")
    t.send(1.01, SERVER, "A")
    t.send(62.0, SERVER, "FA")
    t.send(62.01, CLIENT, "A")
    t = talks["fin_wait_2_in_time"] = _Talk().open()
    t.send(1.0, CLIENT, "FA")
    t.send(1.01, SERVER, "A")
    t.send(40.0, SERVER, "FA")
    t.send(40.01, CLIENT, "A")
    t = talks["syn_given_up"] = _Talk()
    t.send(0.0, CLIENT, "S")
    t.send(130.0, SERVER, "SA")
    t.send(130.01, CLIENT, "A")
    t = talks["data_given_up"] = _Talk().open()         # no ACK of the server's data for 10 min
    t.send(1.0, SERVER, "A", 1000)
    t.send(601.0, CLIENT, "A")
    t = talks["beyond_the_window"] = _Talk(wscale=0, window=1000).open()
    t.send(1.0, SERVER, "A", 1400)
    t = talks["simultaneous_close"] = _Talk().open()
    t.send(1.0, CLIENT, "FA")
    t.send(1.0005, SERVER, "FA", ack=ISS[CLIENT] + 101)
    t.send(1.001, CLIENT, "A")
    t.send(1.002, SERVER, "A")
    t = talks["simultaneous_close_at_the_end"] = _Talk().open()   # met only by finish()
    t.send(1.0, CLIENT, "FA")
    t.send(1.0005, SERVER, "FA", ack=ISS[CLIENT] + 101)
    t = talks["gap_too_big"] = _Talk(window=0xFFFF).open()   # within the window (x 128)
    t.send(1.0, SERVER, "A", 1000, seq=ISS[SERVER] + 1 + 1000 + (2 << 20))
    t.send(1.01, CLIENT, "A", ack=ISS[SERVER] + 1 + 1000)
    t = talks["tsval_back"] = _Talk().open()
    t.send(1.0, SERVER, "A", 500, tsval=5)
    t.send(1.01, CLIENT, "A")
    t = talks["half_close"] = _Talk().open()
    t.send(1.0, CLIENT, "FA")
    t.send(1.01, SERVER, "A", 1000)
    t.send(1.02, CLIENT, "A")
    t.send(1.03, SERVER, "FA", 10)
    t.send(1.04, CLIENT, "A")
    return talks


@pytest.mark.parametrize("name", sorted(_talks()))
def test_written_conversations_give_the_same_report(tmp_path: Path, name: str) -> None:
    """Each at an edge of the script: long pauses (in FIN-WAIT-2, before a SYN,ACK, with
    data unacknowledged: a replay runs no replica timer), a window overrun, a simultaneous
    close, a gap too big to replay, a TSval going back (PAWS), and the half-close the
    script does follow."""
    talk = _talks()[name]
    _same(_write(tmp_path, talk.frames, f"{name}.pcap"))
