"""Many capture files as one Dask DataFrame of TCP segments, decoded where Dask runs the work.

::

    from dask.distributed import Client
    from fastseg.capture.dask import read_captures

    client = Client("tcp://scheduler:8786")            # or Client() for a local cluster
    segments = read_captures(["day1/*.pcap", "day2/*.pcapng"])
    per_port = segments.groupby("dst_port").payload_len.sum().compute()

Each file is one partition, decoded by :func:`fastseg.capture.columns.columns`
on the worker that reads it, so the files must be readable at the same paths
from every worker (a shared file system or object store mount).  The columns
are ``file`` (the path a row came from), then those of
:mod:`fastseg.capture.columns` in its order.  Addresses (``src_addr``,
``dst_addr``) are 16-byte values (Arrow ``fixed_size_binary(16)``);
:func:`fastseg.capture.columns.address` turns one back into an
``ipaddress`` object.

:func:`export` writes the segments of many captures to one Parquet, Arrow
or CSV file, decoding them on a cluster (``fastseg export --scheduler``).

Needs ``dask[dataframe]`` (``pip install "fastseg-tcp[dask]"``).  A file that
cannot be decoded fails its partition with the
:class:`~fastseg.capture.CaptureError` that :func:`~fastseg.capture.columns.columns`
raises, naming the file.
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import logging
import os
from collections import deque
from typing import Any, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from fastseg.capture import columns as _columns

__all__ = ["FILE_COLUMN", "LOCAL", "client", "export", "paths_of", "read_captures", "to_pandas"]

#: The scheduler "address" that asks for a local cluster of worker processes.
LOCAL = "local"

#: The column naming the file each row came from.
FILE_COLUMN = "file"

PathLike = Union[str, "os.PathLike[str]"]


def _dask_dataframe() -> Any:
    try:
        import dask.dataframe
    except ImportError:
        raise ImportError('fastseg.capture.dask needs dask[dataframe]: pip install "fastseg-tcp[dask]"'
                          ) from None
    return dask.dataframe


def _pandas() -> Any:
    import pandas  # a dependency of dask.dataframe

    return pandas


def paths_of(patterns: Union[PathLike, Iterable[PathLike]]) -> List[str]:
    """The files named by ``patterns`` (paths or glob patterns), each pattern's matches sorted.

    A pattern that is not a glob names a file as it is (it need not exist here: a worker
    may see it).  ValueError when nothing at all is named.
    """
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    paths: List[str] = []
    for pattern in patterns:
        text = os.fspath(pattern)
        if glob.has_magic(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise ValueError(f"{text}: no file matches")
            paths += matches
        else:
            paths.append(text)
    if not paths:
        raise ValueError("no capture files given")
    return paths


def to_pandas(cols: Any, file: Optional[str] = None) -> Any:
    """One capture's columns (:class:`~fastseg.capture.columns.Columns`) as a pandas DataFrame,
    with a ``file`` column first when ``file`` is given.

    The addresses are Arrow ``fixed_size_binary(16)`` (``pandas.ArrowDtype``): bytes that Dask
    keeps as they are, where plain objects would be taken for text.
    """
    pandas = _pandas()
    pa = _columns._pyarrow()

    def addresses(arrow_type: Any) -> Any:
        return pandas.ArrowDtype(arrow_type) if pa.types.is_fixed_size_binary(arrow_type) else None

    frame = _columns.to_arrow(cols).to_pandas(types_mapper=addresses)
    if file is not None:
        frame.insert(0, FILE_COLUMN, pandas.Series([file] * len(frame), dtype=object))
    return frame


def _partition(path: str, implementation: Optional[str]) -> Any:
    """The partition of one file (run on a worker)."""
    return to_pandas(_columns.columns(path, implementation=implementation, threads=1), path)


def _meta() -> Any:
    """An empty partition: the columns and their dtypes."""
    return to_pandas(_columns._empty(), "")


def read_captures(patterns: Union[PathLike, Iterable[PathLike]], *,
                  implementation: Optional[str] = None) -> Any:
    """The TCP segments of every capture named by ``patterns`` as a lazy Dask DataFrame.

    One partition per file, in the order :func:`paths_of` gives; nothing is read
    until the frame is computed.  ``implementation`` picks the columns twin
    ("cython" or "python") on the workers.
    """
    dd = _dask_dataframe()
    paths = paths_of(patterns)
    return dd.from_map(_partition, paths, implementation=implementation, meta=_meta(),
                       label="fastseg-read-captures", enforce_metadata=False)


@contextlib.contextmanager
def client(address: str) -> Iterator[Any]:
    """A ``dask.distributed`` client of the scheduler at ``address`` (``tcp://host:8786``), or of
    a local cluster of worker processes, one per CPU, when ``address`` is :data:`LOCAL`; the
    local cluster is shut down on leaving."""
    try:
        distributed: Any = importlib.import_module("distributed")  # untyped: used as Any
    except ImportError:
        raise ImportError('running on a Dask cluster needs distributed: pip install "fastseg-tcp[dask]"'
                          ) from None
    if address == LOCAL:
        with distributed.LocalCluster(processes=True, threads_per_worker=1, dashboard_address=":0",
                                      silence_logs=logging.ERROR) as cluster, \
                distributed.Client(cluster) as connected:
            yield connected
    else:
        with distributed.Client(address) as connected:
            yield connected


def _file_pieces(path: str, implementation: Optional[str]) -> List[_columns.Columns]:
    """One file's columns, in the pieces :func:`~fastseg.capture.columns.iter_columns` reads
    (run on a worker)."""
    return list(_columns.iter_columns(path, implementation=implementation))


class _Ahead:
    """Reads the sources on the cluster, a few files ahead of the writer, handed over in order."""

    def __init__(self, connected: Any, sources: Sequence[str], implementation: Optional[str],
                 ahead: int) -> None:
        self._client, self._implementation = connected, implementation
        self._waiting = deque(sources)
        self._running: Deque[Any] = deque()
        for _ in range(ahead):
            self._submit()

    def _submit(self) -> None:
        if self._waiting:
            path = self._waiting.popleft()
            self._running.append(self._client.submit(_file_pieces, path, self._implementation,
                                                     pure=False))

    def __call__(self, source: Any) -> Iterable[_columns.Columns]:
        future = self._running.popleft()
        self._submit()
        try:
            return list(future.result())
        finally:
            future.release()


def export(connected: Any, sources: Sequence[PathLike], dest: Union[PathLike, Any], *,
           ahead: Optional[int] = None, **options: Any) -> int:
    """:func:`fastseg.capture.columns.export`, with the captures decoded on the cluster of the
    ``dask.distributed`` client ``connected``; the same output, byte for byte.

    Each file is decoded on a worker (so every worker must read it at the same path) and
    written here, in the given order, while the next ``ahead`` files (default: two per
    worker thread) are decoded; memory here holds about ``ahead`` files' columns.
    ``options`` are :func:`~fastseg.capture.columns.export`'s (format, compression,
    file_column, implementation).  A file that cannot be decoded raises its
    :class:`~fastseg.capture.CaptureError` here, and no output is left behind.
    """
    paths = [os.fspath(source) for source in sources]
    if ahead is None:
        threads: Dict[str, int] = connected.nthreads()
        ahead = 2 * max(1, sum(threads.values()))
    if ahead < 1:
        raise ValueError(f"ahead must be positive, got {ahead}")
    reader = _Ahead(connected, paths, options.get("implementation"), ahead)
    return _columns.export(paths, dest, pieces_of=reader, **options)
