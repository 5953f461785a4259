"""The files a run reads (the policy, a snapshot): regular files only, opened without waiting.

A FIFO opened for reading blocks until some process opens it for writing, and a
terminal or ``/dev/stdin`` until someone types: a gate pointed at one would hang
instead of failing. So the file is opened with ``O_NONBLOCK`` (which makes no
difference to a regular file) and its kind is read from the open descriptor, not
from the path beforehand, which could be swapped between the check and the open.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

#: Not on every platform (Windows has neither FIFOs to open nor the flag).
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular_file(path: Path) -> BinaryIO:
    """``path`` opened for binary reading; raises OSError, also when it is not a regular file.

    The error's ``strerror`` says what the path is instead ("it is a FIFO (named pipe),
    not a regular file"), for the caller's "cannot read ..." message.
    """
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _kind(mode)
            what = kind if kind.startswith("not ") else f"it is {kind}, not a regular file"
            raise OSError(errno.EINVAL, what, str(path))
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
