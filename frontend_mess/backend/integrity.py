"""Check a `.vmfb` before IREE's runtime maps it (issue 11: a damaged file segfaulted `run`).

IREE's runtime verifies the module's FlatBuffer, but not the native code embedded in it: a
damaged shared object is `dlopen`ed and jumped into. IREE 3.13 writes a `.vmfb` as a ZIP
archive (`module.fb`, the FlatBuffer, and one entry per embedded executable, all stored with a
CRC-32), so a CRC check over every entry finds any damaged byte of module or code. A module
that is not an archive (another IREE, `--iree-vm-emit-polyglot-zip=false`) cannot be checked
that way; it is loaded once in a child process first, so that a crash there is an error here.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

from frontend_mess.support.errors import FrontendError
from frontend_mess.support.paths import input_file

#: the FlatBuffer file identifier of an IREE bytecode module: bytes 4..8 of a bare FlatBuffer,
#: 8..12 of the size-prefixed one IREE writes as `module.fb`.
FLATBUFFER_ID = b"IREE"


def _is_flatbuffer(head: bytes) -> bool:
    return FLATBUFFER_ID in (head[4:8], head[8:12])


MODULE_ENTRY = "module.fb"
#: seconds a child process may take to load an unverifiable module.
PROBE_TIMEOUT_S = 60


def is_module_bytes(data: bytes) -> bool:
    """Whether `data` starts as a `.vmfb` does (IREE's archive, or a bare FlatBuffer)."""
    return data.startswith(b"PK\x03\x04") or _is_flatbuffer(data[:12])


def check_vmfb(path: str | Path) -> Path:
    """`path` if it holds an intact IREE module; else one clear `FrontendError`."""
    path = input_file(path, "module file")
    with path.open("rb") as handle:
        head = handle.read(12)
    if len(head) < 12:
        raise FrontendError(f"{path} is {len(head)} bytes: not an IREE module (.vmfb)")
    if zipfile.is_zipfile(path):
        _check_archive(path)
    elif head.startswith(b"PK\x03\x04"):
        raise FrontendError(
            f"{path} is damaged or truncated: it starts as IREE's archive but its directory "
            f"is missing; recompile it"
        )
    elif _is_flatbuffer(head):
        _probe_in_child(path)
    else:
        raise FrontendError(
            f"{path} is not an IREE module (.vmfb): it is neither IREE's archive nor a bare "
            f"IREE FlatBuffer"
        )
    return path


def _check_archive(path: Path) -> None:
    damaged = f"{path} is damaged"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if MODULE_ENTRY not in names:
                raise FrontendError(
                    f"{path} is a ZIP archive without {MODULE_ENTRY}: not an IREE module (.vmfb)"
                )
            with archive.open(MODULE_ENTRY) as entry:
                if not _is_flatbuffer(entry.read(12)):
                    raise FrontendError(f"{damaged}: {MODULE_ENTRY} is not an IREE FlatBuffer")
            bad = archive.testzip()  # reads every entry, checks its CRC-32 and header
    except FrontendError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as exc:
        raise FrontendError(
            f"{damaged} (its archive does not read back: {exc}); recompile it"
        ) from None
    if bad is not None:
        raise FrontendError(f"{damaged}: the checksum of its entry {bad} fails; recompile it")


def _probe_in_child(path: Path) -> None:
    code = (
        "import sys, iree.runtime as rt\n"
        "config = rt.Config('local-sync')\n"
        "rt.SystemContext(config=config).add_vm_module("
        "rt.VmModule.mmap(config.vm_instance, sys.argv[1]))\n"
    )
    try:
        done = subprocess.run(  # -I and cwd /: no module of the user's directory shadows ours
            [sys.executable, "-I", "-c", code, str(path.resolve())],
            cwd="/",
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise FrontendError(f"{path} did not load within {PROBE_TIMEOUT_S} s: damaged?") from None
    if done.returncode != 0:
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
        last = (done.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
        raise FrontendError(
            f"{path} is not a loadable IREE module (a test load ended with {how}"
            f"{': ' + last[:200] if last else ''}); recompile it"
        )
