"""Atomic writes: an interrupted writer leaves the old file, and no temporary behind."""

import pytest

from frontend_mess.support.atomic import write_atomically


def test_replaces_whole(tmp_path):
    target = tmp_path / "out.mlir"
    target.write_text("old")
    write_atomically(target, lambda f: f.write(b"new"))
    assert target.read_text() == "new"


def test_failure_keeps_old_file_and_no_temporaries(tmp_path):
    target = tmp_path / "out.mlir"
    target.write_text("old")

    def half_then_fail(handle):
        handle.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_atomically(target, half_then_fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mlir"]


def test_a_sigkilled_fallback_writers_file_is_removed_by_the_next_write(tmp_path, monkeypatch):
    """Where unnamed files cannot be linked, a named temporary file is used; one a SIGKILL left
    (its PID gone, older than STALE_AFTER_S) goes at the next write of the same target, and
    another target's temporary file is never touched."""
    import os
    import time

    from frontend_mess.support import atomic

    monkeypatch.setattr(atomic, "_unnamed", lambda directory: None)
    target = tmp_path / "out.mlir"
    dead_pid = 2**22 + 17  # above pid_max's default: not running
    stale = tmp_path / f".out.mlir.{dead_pid}.abcd1234.tmp"
    other = tmp_path / f".out.mlir.17.mlir.{dead_pid}.abcd1234.tmp"
    fresh = tmp_path / f".out.mlir.{dead_pid}.efgh5678.tmp"
    for path in (stale, other, fresh):
        path.write_text("partial")
    old = time.time() - atomic.STALE_AFTER_S - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    atomic.write_atomically(target, lambda handle: handle.write(b"done"))
    assert target.read_text() == "done"
    assert not stale.exists()
    assert other.exists() and fresh.exists()  # another target's, and one too young to judge


def test_non_ascii_names_near_the_limit_are_written(tmp_path):
    from frontend_mess.support.atomic import write_atomically

    target = tmp_path / ("模" * 80 + ".mlir")  # 245 bytes: allowed, and its temp name too
    write_atomically(target, lambda handle: handle.write(b"x"))
    assert target.read_bytes() == b"x"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
