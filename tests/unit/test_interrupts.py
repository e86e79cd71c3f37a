"""SIGTERM, SIGINT and SIGKILL in the middle of writing an output (issue 11): the old file
stays whole, and no partial or temporary file is left beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A child that writes an output slowly: half the data, then a pause to be killed in.
WRITER = """
import sys, time
from pathlib import Path
from frontend_mess.cli import _sigterm_raises
from frontend_mess.support.atomic import write_atomically

def slow(handle):
    handle.write(b"new" * 1000)
    handle.flush()
    Path(sys.argv[2]).write_text("writing")
    time.sleep(60)
    handle.write(b"end")

with _sigterm_raises():
    write_atomically(sys.argv[1], slow)
"""


def _kill_mid_write(tmp_path: Path, signum: int) -> tuple[Path, int]:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "model.mlir"
    target.write_text("OLD")
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), str(ready)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.05)
    child.send_signal(signum)
    return out_dir, child.wait(timeout=30)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_signal_mid_write_leaves_the_old_file_and_nothing_else(tmp_path, signum):
    out_dir, code = _kill_mid_write(tmp_path, signum)
    assert code != 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["model.mlir"]
    assert (out_dir / "model.mlir").read_text() == "OLD"


@pytest.mark.slow
def test_sigterm_ends_a_command_with_one_line_and_status_143(tmp_path):
    model = tmp_path / "slow.py"
    model.write_text("import time\ntime.sleep(60)\n")
    child = subprocess.Popen(
        [sys.executable, "-m", "frontend_mess", "import", str(model), "-o", "out.mlir"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "CI": "1"},
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(8)  # past the imports, inside the model file's sleep
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == ["frontend-mess: terminated"], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.py"]
