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
