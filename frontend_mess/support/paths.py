"""Checks at the edge for the files a command reads and writes (issue 11).

An input must be a regular file (a FIFO would block, `/dev/zero` would be read forever); an
output must not be a directory, a device or one of the command's own inputs under another
name (a hard link, a symlink, `./x` for `x`), and its directory must exist and be writable.
Both are checked before any work starts, so a mistake costs nothing and nothing is written.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from frontend_mess.support.errors import FrontendError

#: the longest file name (one path component) Linux file systems take, in bytes.
NAME_MAX = 255


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def input_file(path: str | os.PathLike[str], what: str = "input file") -> Path:
    """`path`, if it names a readable regular file (links followed); else one clear error."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FrontendError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise FrontendError(f"cannot read {what} {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise FrontendError(f"{what} {path} is {_kind(mode)}, not a regular file")
    if not os.access(path, os.R_OK):
        raise FrontendError(f"cannot read {what} {path}: permission denied")
    return path


def output_file(
    path: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    what: str = "output",
    option: str = "-o",
    make_parents: bool = False,
) -> Path:
    """Refuse an output path that could not be written, or whose writing would destroy an
    input; checked before the work, so the user learns it in a second, not after a compile."""
    path = Path(path)
    label = f"{what} {path} ({option})"
    parts = Path(os.path.abspath(path)).parts
    if parts[1:2] in (("dev",), ("proc",), ("sys",)) and parts[1:3] != ("dev", "shm"):
        raise FrontendError(
            f"cannot write {label}: it is a system path, not a file (leave out the option to "
            f"print to stdout)"
        )
    if len(os.fsencode(path.name)) > NAME_MAX:
        raise FrontendError(f"cannot write {label}: the file name is longer than {NAME_MAX} bytes")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise FrontendError(f"cannot write {label}: {exc.strerror}") from None
    if mode is not None and not stat.S_ISREG(mode):
        hint = " (leave out the option to print to stdout)" if not stat.S_ISDIR(mode) else ""
        raise FrontendError(f"cannot write {label}: it is {_kind(mode)}{hint}")
    if mode is not None:
        for given in inputs:
            if given is not None and _same_file(path, Path(given)):
                raise FrontendError(
                    f"refusing to write {label}: it is the input {given}; name another file"
                )
    directory = path.parent if str(path.parent) else Path(".")
    if make_parents:  # the directories will be made: the nearest one that exists must do
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent
    if directory.exists() and not directory.is_dir():
        raise FrontendError(f"cannot write {label}: {directory} is a file, not a directory")
    if not directory.is_dir():
        raise FrontendError(f"cannot write {label}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise FrontendError(f"cannot write {label}: directory {directory} is not writable")
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def io_error_message(exc: OSError, action: str = "access") -> str:
    """One line for an I/O error: the file and the cause (a full disk, a quota, a bad name)."""
    name = exc.filename if exc.filename is not None else "a file"
    cause = exc.strerror or str(exc)
    hint = {
        errno.ENOSPC: "free some space, or write somewhere else",
        errno.EDQUOT: "free some space, or write somewhere else",
        errno.EFBIG: "the file size limit (ulimit -f) is too small for it",
        errno.EROFS: "write somewhere else",
        errno.EACCES: "check the permissions",
        errno.ENAMETOOLONG: f"use a name of at most {NAME_MAX} bytes",
    }.get(exc.errno or 0)
    return f"cannot {action} {name}: {cause}" + (f" ({hint})" if hint else "")
