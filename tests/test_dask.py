"""fastseg.capture.dask: capture files as a Dask DataFrame, computed on a real local cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

dd = pytest.importorskip("dask.dataframe", reason='needs dask[dataframe] (pip install "fastseg-tcp[dask]")')
distributed = pytest.importorskip("distributed", reason='needs distributed (pip install "fastseg-tcp[dask]")')
pandas = pytest.importorskip("pandas")

from fastseg.capture import CaptureNotFound, columns  # noqa: E402 - after the skips
from fastseg.capture.dask import FILE_COLUMN, paths_of, read_captures, to_pandas  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
FILES = sorted(str(p) for p in (DATA / "captures").glob("*.pcap")) + sorted(
    str(p) for p in (DATA / "analysis").glob("*.pcap"))
WORKERS = 2


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    with cluster, distributed.Client(cluster) as connected:
        yield connected


def single_process(paths):
    return pandas.concat([to_pandas(columns.columns(path), path) for path in paths],
                         ignore_index=True)


def test_a_cluster_reads_what_one_process_reads(client):
    assert len(client.scheduler_info()["workers"]) == WORKERS
    frame = read_captures(FILES)
    assert frame.npartitions == len(FILES)
    computed = frame.compute().reset_index(drop=True)
    pandas.testing.assert_frame_equal(computed, single_process(FILES), check_dtype=False)
    assert list(computed.columns) == [FILE_COLUMN] + [name for name, _, _ in columns.COLUMNS]
    assert computed[FILE_COLUMN].nunique() == len(FILES)


def test_queries_run_on_the_workers(client):
    frame = read_captures([str(DATA / "captures" / "*.pcap")])
    syns = frame[(frame["flags"] & 0x02) != 0].groupby("dst_port").frame.count().compute()
    expected = single_process(paths_of(str(DATA / "captures" / "*.pcap")))
    expected = expected[(expected["flags"] & 0x02) != 0].groupby("dst_port").frame.count()
    assert syns.sort_index().to_dict() == expected.sort_index().to_dict()


def test_a_missing_file_fails_naming_it(client, tmp_path):
    missing = str(tmp_path / "gone.pcap")
    with pytest.raises(CaptureNotFound, match=r"gone\.pcap"):
        read_captures([FILES[0], missing]).compute()


def test_patterns():
    with pytest.raises(ValueError, match="no file matches"):
        paths_of(str(DATA / "captures" / "*.nothing"))
    with pytest.raises(ValueError, match="no capture files"):
        paths_of([])
    assert paths_of(DATA / "captures" / "rst.pcap") == [str(DATA / "captures" / "rst.pcap")]


def test_analyze_on_a_local_cluster_reports_what_one_process_does(tmp_path):
    """``fastseg analyze --scheduler local``: the per-file work on worker processes, the same
    JSON (a file that cannot be read is an error entry there too)."""
    import subprocess
    import sys

    files = [*FILES[:3], str(tmp_path / "gone.pcap")]
    runner = "import sys; from fastseg.cli import main; sys.exit(main(sys.argv[1:]))"

    def analyze(*options):
        return subprocess.run([sys.executable, "-c", runner, "analyze", "--json", *options, *files],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)

    def document(out):
        """The JSON document, connections by id: -j 1 streams them in the order they end."""
        parsed = json.loads(out)
        for file in parsed["files"]:
            file.get("connections", []).sort(key=lambda conn: conn["id"])
        return parsed

    alone, spread = analyze("-j", "1"), analyze("--scheduler", "local")
    assert alone.returncode == spread.returncode == 1
    assert document(spread.stdout) == document(alone.stdout) and '"error"' in spread.stdout
    assert sum(len(f.get("connections", [])) for f in document(alone.stdout)["files"]) > 3
    assert spread.stderr == alone.stderr and "Traceback" not in spread.stderr


@pytest.mark.parametrize("suffix", [".parquet", ".arrow", ".csv.gz"])
def test_export_on_a_cluster_writes_what_one_process_writes(client, tmp_path, suffix):
    from fastseg.capture import dask as fastseg_dask

    if suffix != ".csv.gz":
        pytest.importorskip("pyarrow")
    alone, spread = tmp_path / f"alone{suffix}", tmp_path / f"spread{suffix}"
    rows = columns.export(FILES, alone)
    assert fastseg_dask.export(client, FILES, spread, ahead=2) == rows > 0
    assert spread.read_bytes() == alone.read_bytes()


def test_export_on_a_cluster_fails_naming_the_file_and_leaves_nothing(client, tmp_path):
    from fastseg.capture import dask as fastseg_dask

    out = tmp_path / "out.csv"
    out.write_text("kept")
    with pytest.raises(CaptureNotFound, match=r"gone\.pcap"):
        fastseg_dask.export(client, [FILES[0], str(tmp_path / "gone.pcap"), FILES[1]], out)
    assert out.read_text() == "kept" and sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_export_command_on_a_local_cluster(tmp_path):
    """``fastseg export --scheduler local``: the same file as without it."""
    import subprocess
    import sys

    runner = "import sys; from fastseg.cli import main; sys.exit(main(sys.argv[1:]))"

    def export(out, *options):
        return subprocess.run([sys.executable, "-c", runner, "export", *options, "-o", str(out),
                               *FILES[:4]], capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)  # away from the source tree

    alone, spread = export(tmp_path / "a.csv"), export(tmp_path / "b.csv", "--scheduler", "local")
    assert alone.returncode == spread.returncode == 0, spread.stderr
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert spread.stdout.replace("b.csv", "a.csv") == alone.stdout
