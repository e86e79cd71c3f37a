"""Atomic file output: a reader sees the old file or the whole new one, never half of one.

A failed import or an interrupted run must not leave a truncated `.mlir` behind that a later
step would try to parse, nor a temporary file beside it. On Linux the data goes to an unnamed
file in the target's directory (`O_TMPFILE`): until it is complete it has no name, so even a
SIGKILL leaves nothing behind. It is then linked under a temporary name and renamed over the
target (microseconds). Where `O_TMPFILE` is not supported, a named temporary file is used and
removed on any error, Ctrl-C or SIGTERM (cli.py turns SIGTERM into an exception).
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from frontend_mess.support.errors import FrontendError
from frontend_mess.support.paths import io_error_message, output_file


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask  # an output is an ordinary file, not mkstemp's 0600


#: st_dev -> how an unnamed file gets its name on that file system (None: it cannot).
_LINKERS: dict[int, Callable[[int, Path], None] | None] = {}
_AT_FDCWD, _AT_EMPTY_PATH = -100, 0x1000


def _link_by_proc(fd: int, name: Path) -> None:
    os.link(f"/proc/self/fd/{fd}", name)  # linkat(..., AT_SYMLINK_FOLLOW)


def _link_empty_path(fd: int, name: Path) -> None:
    """linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH): where /proc's magic link does not link
    (some sandboxed kernels answer EXDEV); Python's os.link cannot pass AT_EMPTY_PATH."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.linkat(fd, b"", _AT_FDCWD, os.fsencode(name), _AT_EMPTY_PATH) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(name))


def _linker(directory: Path, flag: int) -> Callable[[int, Path], None] | None:
    """The first way that links an unnamed file on this file system, found by trying on a
    probe file of its own (an unnamed file can be named once: linking clears I_LINKABLE)."""
    device = directory.stat().st_dev
    if device not in _LINKERS:
        _LINKERS[device] = None
        for link in (_link_by_proc, _link_empty_path):
            probe = directory / f".frontend-mess-probe.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            fd = os.open(directory, flag | os.O_WRONLY, 0o600)
            try:
                link(fd, probe)
                probe.unlink()
                _LINKERS[device] = link
                break
            except OSError:
                continue
            finally:
                os.close(fd)
    return _LINKERS[device]


def _unnamed(directory: Path) -> tuple[int, Callable[[int, Path], None]] | None:
    """An unnamed file in `directory` and the way to name it later, where the file system
    has both (overlayfs makes unnamed files but may refuse to link them), else None."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag:
        return None
    try:
        link = _linker(directory, flag)
        if link is None:
            return None
        return os.open(directory, flag | os.O_WRONLY, _file_mode()), link
    except OSError:  # a file system without O_TMPFILE support (EOPNOTSUPP, EISDIR)
        return None


#: a named temporary file older than this whose writer is gone is a SIGKILL's leftover.
STALE_AFTER_S = 600


def _short_name(target: Path) -> str:
    """The target's name cut to 200 bytes (not characters), so that a temporary name made
    from it stays within NAME_MAX whatever the script of the name."""
    return os.fsencode(target.name)[:200].decode(errors="ignore")


def _temp_prefix(target: Path) -> str:
    return f".{_short_name(target)}.{os.getpid()}."


def _remove_stale(directory: Path, target: Path) -> None:
    """Named temporary files of this target left by a process that was SIGKILLed (only the
    fallback writer names them): exactly `.NAME.PID.XXXXXXXX.tmp`, its PID not running here,
    and older than STALE_AFTER_S (a writer on another host of a shared file system)."""
    name = re.escape(_short_name(target))
    shape = re.compile(rf"\.{name}\.(\d+)\.[A-Za-z0-9_]{{8}}\.tmp")
    for stale in directory.iterdir():
        match = shape.fullmatch(stale.name)
        if not match or Path(f"/proc/{match[1]}").exists():
            continue
        try:
            if time.time() - stale.lstat().st_mtime > STALE_AFTER_S:
                stale.unlink()
        except OSError:
            pass


def write_atomically(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Call `write` with a binary file object, then move the result to `path`. An I/O error
    (full disk, read-only directory) is a `FrontendError` naming `path`."""
    target = output_file(path)
    directory = target.parent if str(target.parent) else Path(".")
    prefix = _temp_prefix(target)
    try:
        unnamed = _unnamed(directory)
        if unnamed is not None:
            fd, link = unnamed
            name = directory / f"{prefix}{secrets.token_hex(4)}.tmp"
            try:
                with os.fdopen(fd, "wb") as handle:
                    write(handle)
                    handle.flush()
                    link(handle.fileno(), name)
                os.replace(name, target)
            except BaseException:
                name.unlink(missing_ok=True)
                raise
            return target
        _remove_stale(directory, target)
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
            os.chmod(tmp, _file_mode())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        exc.filename = str(target)  # the user's name, not a temporary one
        raise FrontendError(io_error_message(exc, "write")) from exc
    return target
