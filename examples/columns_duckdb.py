"""From a capture to SQL: fastseg's columns in Parquet, queried with DuckDB (or Polars).

Run it as ``python examples/columns_duckdb.py [CAPTURE ...]``.  Without a
capture it uses the sample capture shipped with fastseg (the one
``fastseg analyze`` reads by default).  It exports the captures with ``fastseg.capture.columns.export``
(the same as ``fastseg export FILE... -o segments.parquet``) and asks
DuckDB for the busiest flows, the SYN options seen and the bad checksums.
Without DuckDB it uses Polars, and without either, pyarrow, so the example
runs wherever ``pip install "fastseg-tcp[arrow]"`` does.

Past one machine the same Parquet files go to Dask
(``dask.dataframe.read_parquet``) or Spark (``spark.read.parquet``)
unchanged.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import List

from fastseg.analyze import SAMPLE
from fastseg.capture import columns

FLOWS = """
    SELECT src_port, dst_port, count(*) AS segments, sum(payload_len) AS bytes
    FROM '{path}' GROUP BY ALL ORDER BY bytes DESC, src_port LIMIT 5
"""
SYN_OPTIONS = """
    SELECT mss, wscale, sack_permitted, count(*) AS syns
    FROM '{path}' WHERE flags & 2 <> 0 GROUP BY ALL ORDER BY syns DESC
"""
BAD_CHECKSUMS = "SELECT count(*) AS bad FROM '{path}' WHERE checksum_ok = 0"


def query(path: str) -> None:
    """Print the three answers with the first engine that is installed."""
    try:
        import duckdb
    except ImportError:
        duckdb = None
    if duckdb is not None:
        print("engine: duckdb")
        for sql in (FLOWS, SYN_OPTIONS, BAD_CHECKSUMS):
            print(duckdb.sql(sql.format(path=path)))
        return
    try:
        import polars as pl
    except ImportError:
        pl = None
    if pl is not None:
        print("engine: polars")
        frame = pl.read_parquet(path)
        print(frame.group_by("src_port", "dst_port")
              .agg(pl.len().alias("segments"), pl.col("payload_len").sum().alias("bytes"))
              .sort(["bytes", "src_port"], descending=[True, False]).head(5))
        print(frame.filter(pl.col("flags") & 2 != 0)
              .group_by("mss", "wscale", "sack_permitted").agg(pl.len().alias("syns")))
        print("bad:", frame.filter(pl.col("checksum_ok") == 0).height)
        return
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    print("engine: pyarrow")
    table = pq.read_table(path)
    print(table.group_by(["src_port", "dst_port"]).aggregate([("payload_len", "sum")])
          .sort_by([("payload_len_sum", "descending")]).slice(0, 5))
    print("bad:", pc.sum(pc.equal(table["checksum_ok"], 0)).as_py() or 0)


def main(argv: List[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        captures = argv or [SAMPLE]
        out = os.path.join(tmp, "segments.parquet")
        rows = columns.export(captures, out)
        print(f"exported {rows} segments to {os.path.basename(out)}")
        query(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
