"""Links from a Markdown report to the plot files written for it, relative to where the report is read.

The report goes to stdout. Redirected to a file (``> out/report.md``), links are relative to that file's
directory, so the report and its plots can be moved or published together; written to a terminal or a
pipe, whose destination the program cannot know, relative to the current directory.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import IO


def report_dir(stream: IO[str] | None = None) -> Path:
    """The directory of the regular file ``stream`` (stdout by default) writes to, else the current one."""
    stream = stream or sys.stdout
    try:
        fd = stream.fileno()
        if stat.S_ISREG(os.fstat(fd).st_mode):
            path = _path_of(fd)
            if path is not None:
                return path.parent
    except (AttributeError, OSError, ValueError):  # no file descriptor (io.UnsupportedOperation is both)
        pass
    return Path.cwd()


def _path_of(fd: int) -> Path | None:
    """The path of the open file ``fd`` where the system says (Linux /proc, macOS F_GETPATH), checked to
    be the same file."""
    try:
        import fcntl

        raw = fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024))  # type: ignore[attr-defined]
        name = os.fsdecode(raw.split(b"\0", 1)[0])
    except (ImportError, AttributeError, OSError):
        try:
            name = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
    try:
        same = os.path.samestat(os.fstat(fd), os.stat(name))
    except OSError:
        return None
    return Path(name) if same else None


def relative_link(target: Path, base: Path) -> str:
    """``target`` as a Markdown link from a report in ``base``: relative, with forward slashes."""
    try:
        return Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return target.resolve().as_uri()
