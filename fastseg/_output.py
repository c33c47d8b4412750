"""Where fastseg opens the files it writes: atomically, through special files, never over an input.

Every output of the command line (``export -o``, ``fuzz -o`` and ``--log``)
and every path :func:`fastseg.capture.columns.export` writes is opened here,
so they all behave alike:

- a regular file (or a name that does not exist yet) is written to a
  temporary file in the same directory and moved into place with
  :func:`os.replace` once it is complete: a failed or interrupted write
  leaves the old file as it was, and no partial file behind.  The new file
  keeps an existing file's permission bits (and, for root, its owner);
  a new file gets ``0o666`` less the umask, as ``open()`` would give it;
- a character or block device, a FIFO or a socket is written through, in
  place (``-o /dev/null`` stays a device);
- a symbolic link is followed: the file it names is written (atomically when
  that is a regular file), and the link stays a link;
- an output that is one of the inputs (the same device and inode), or that
  is named twice, is refused with :class:`SameFileError` before anything is
  read or written.  Devices are exempt (``/dev/null`` may be named twice).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from types import TracebackType
from typing import IO, Any, Iterable, List, Optional, Sequence, Tuple, Type, Union

from fastseg.errors import FastsegError

__all__ = ["Output", "SameFileError", "check_distinct"]

PathLike = Union[str, "os.PathLike[str]"]


class SameFileError(FastsegError, ValueError):
    """An output that is also an input, or the same output named twice."""


def _identity(path: str) -> Optional[Tuple[int, int, int]]:
    """(device, inode, mode) of what ``path`` names, links followed; None if it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mode


def check_distinct(outputs: Sequence[Tuple[str, str]], inputs: Iterable[str] = ()) -> None:
    """Refuse an output that is an input, or two outputs that are one file.

    ``outputs`` are (what, path) pairs, such as ``("-o", "x.pcap")``; ``inputs``
    are paths.  Character and block devices may repeat; anything else that is
    the same file (same st_dev and st_ino, links followed) raises
    :class:`SameFileError` naming both.
    """
    seen: List[Tuple[str, str, Tuple[int, int]]] = []
    for path in inputs:
        ident = _identity(os.fsdecode(path))
        if ident is not None and not (stat.S_ISCHR(ident[2]) or stat.S_ISBLK(ident[2])):
            seen.append(("input", os.fsdecode(path), ident[:2]))
    for what, path in outputs:
        ident = _identity(path)
        if ident is None:
            # Two outputs naming one file that does not exist yet: compare where they would land.
            key = (-1, hash(os.path.realpath(path)))
        elif stat.S_ISCHR(ident[2]) or stat.S_ISBLK(ident[2]):
            continue
        else:
            key = ident[:2]
        for other_what, other, other_key in seen:
            if other_key == key:
                if other_what == "input":
                    raise SameFileError(f"{what} {path} is the input {other}: "
                                        "refusing to overwrite an input")
                raise SameFileError(f"{what} {path} and {other_what} {other} are the same file")
        seen.append((what, path, key))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class Output:
    """A context manager that opens ``path`` for writing and commits it on success.

    ``with Output(path, "wb") as file:`` gives a file object; leaving the block
    normally makes the file appear (or, for a special file, simply closes it);
    an exception removes the temporary file and leaves the old one alone.
    ``mode`` is "wb" or "w" (text, with ``newline`` and ``encoding``).
    """

    def __init__(self, path: PathLike, mode: str = "wb", *, newline: Optional[str] = None,
                 encoding: Optional[str] = None) -> None:
        if mode not in ("wb", "w"):
            raise ValueError(f"mode is 'wb' or 'w', not {mode!r}")
        self.path = os.fsdecode(path)
        self._mode, self._newline = mode, newline
        self._encoding = encoding if mode == "w" else None
        self._temp: Optional[str] = None
        self._resolved = self.path
        self.file: Any = None

    def _open_kwargs(self) -> dict:  # type: ignore[type-arg]
        if self._mode == "w":
            return {"newline": self._newline, "encoding": self._encoding or "utf-8"}
        return {}

    def open(self) -> IO[Any]:
        """Open the file (or the temporary file beside it); :meth:`commit` or :meth:`discard` it."""
        ident = _identity(self.path)
        if ident is not None and not stat.S_ISREG(ident[2]):
            if stat.S_ISDIR(ident[2]):
                raise IsADirectoryError(21, "Is a directory", self.path)
            # A device, FIFO or socket: written through, in place.
            self.file = open(self.path, self._mode, **self._open_kwargs())  # noqa: SIM115
            return self.file  # type: ignore[no-any-return]
        # A regular file, or none yet: the file a link resolves to, written beside itself.
        resolved = os.path.realpath(self.path)
        if ident is not None and _identity(resolved) != ident:  # /proc/self/fd/N of a deleted file
            self.file = open(self.path, self._mode, **self._open_kwargs())  # noqa: SIM115
            return self.file  # type: ignore[no-any-return]
        self._resolved = resolved
        directory, name = os.path.split(resolved)
        try:
            fd, self._temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory or ".")
        except OSError as exc:
            if exc.filename is None or exc.filename != self.path:
                raise OSError(exc.errno, exc.strerror, self.path) from None
            raise
        try:
            if ident is not None:
                st = os.stat(resolved)
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
                if os.geteuid() == 0:
                    with contextlib.suppress(OSError):
                        os.fchown(fd, st.st_uid, st.st_gid)
            else:
                os.fchmod(fd, 0o666 & ~_umask())
            self.file = os.fdopen(fd, self._mode, **self._open_kwargs())
        except BaseException:
            os.close(fd)
            os.unlink(self._temp)
            self._temp = None
            raise
        return self.file  # type: ignore[no-any-return]

    def commit(self) -> None:
        """Close the file and, when it was a temporary one, move it into place."""
        try:
            self.file.close()
        except BaseException:
            self.discard()
            raise
        if self._temp is not None:
            try:
                os.replace(self._temp, self._resolved)
            except BaseException:
                self.discard()
                raise
            self._temp = None

    def discard(self) -> None:
        """Close the file and remove the temporary one: the old file stays as it was."""
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
        if self._temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._temp)
            self._temp = None

    def __enter__(self) -> Any:
        return self.open()

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if exc_type is None:
            try:
                self.commit()
            except OSError as err:
                if err.filename is None:  # a failed flush: say which file
                    raise OSError(err.errno, err.strerror, self.path) from None
                raise
            return
        self.discard()
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, self.path) from None
