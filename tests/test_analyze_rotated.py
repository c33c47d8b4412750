"""A capture cut into pieces (rotated) is analysed as one: ``analyze_file([...])``, ``--rotated``.

The pieces are cut from real captures at frame boundaries, inside connections,
the way ``tcpdump -C`` or ``editcap -c`` cut them; read as one, in order, they
must tell exactly the story of the whole file, frame numbers included.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from fastseg.analyze import SAMPLE, analyze_file

DATA = Path(__file__).resolve().parent / "data"
WHOLE = [Path(SAMPLE), DATA / "captures" / "sack_loss_ipv4.pcap", DATA / "captures" / "rst.pcap"]
PCAP_HEADER, RECORD_HEADER = 24, 16


def cut(path: Path, into: int, directory: Path) -> List[str]:
    """``path`` (a classic little-endian pcap) cut into ``into`` pieces of about as many frames."""
    data = path.read_bytes()
    assert struct.unpack("<I", data[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D)
    records, offset = [], PCAP_HEADER
    while offset < len(data):
        length = struct.unpack("<I", data[offset + 8: offset + 12])[0]
        records.append(data[offset: offset + RECORD_HEADER + length])
        offset += RECORD_HEADER + length
    per = -(-len(records) // into)
    pieces = []
    for i in range(into):
        piece = directory / f"{path.stem}.pcap{i or ''}"  # tcpdump -C names: x, x1, x2, ...
        piece.write_bytes(data[:PCAP_HEADER] + b"".join(records[i * per:(i + 1) * per]))
        pieces.append(str(piece))
    return pieces


def story(result: Dict[str, Any]) -> Dict[str, Any]:
    """What the analysis says, not where it read it (streamed JSON has connections in end order)."""
    told = {key: value for key, value in result.items() if key not in ("file", "pieces")}
    told["connections"] = sorted(told["connections"], key=lambda conn: conn["id"])
    return told


@pytest.mark.parametrize("path", WHOLE, ids=[p.stem for p in WHOLE])
@pytest.mark.parametrize("into", [2, 5])
def test_pieces_read_as_one_tell_the_whole_story(path: Path, into: int, tmp_path: Path) -> None:
    pieces = cut(path, into, tmp_path)
    whole, joined = analyze_file(str(path)), analyze_file(pieces)
    assert joined["file"] == pieces[0] and joined["pieces"] == pieces
    assert story(joined) == story(whole)
    assert whole["connections"]


def test_each_piece_alone_does_not(tmp_path: Path) -> None:
    """The point of reading pieces as one: alone, a later piece starts mid-connection."""
    pieces = cut(DATA / "captures" / "sack_loss_ipv4.pcap", 3, tmp_path)
    alone = analyze_file(pieces[1])
    assert [c["handshake"] for c in alone["connections"]] == ["mid-stream"]
    assert [c["handshake"] for c in analyze_file(pieces)["connections"]] == ["complete"]


def test_a_missing_piece_is_named(tmp_path: Path) -> None:
    from fastseg.capture import CaptureNotFound

    pieces = cut(Path(SAMPLE), 2, tmp_path)
    with pytest.raises(CaptureNotFound, match="gone"):
        analyze_file([pieces[0], str(tmp_path / "gone.pcap")])
    with pytest.raises(ValueError):
        analyze_file([])


@pytest.mark.parametrize("options", [["-j", "2"], ["-j", "1"], ["-j", "2", "--no-progress"]])
def test_the_rotated_option(tmp_path: Path, options: List[str]) -> None:
    pieces = cut(Path(SAMPLE), 3, tmp_path)
    runner = "import sys; from fastseg.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", runner, "analyze", "--json", "--rotated",
                           *options, *pieces], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)  # not the checkout: the installed fastseg
    assert done.returncode == 0, done.stderr
    files = json.loads(done.stdout)["files"]
    assert len(files) == 1 and files[0]["pieces"] == pieces
    assert story(files[0]) == story(analyze_file(SAMPLE))
