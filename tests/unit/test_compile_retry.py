"""The compile stage's one retry (backend/compiler.py::_compile_str): again without data
tiling where IREE's CPU codegen failed in a way data tiling causes (the large vectors of
iree #24876, a tiled load_from_buffer), and only there. iree-compile is replaced by a fake
that fails at first, then while data tiling is on; the real failures are pinned in
tests/unit/test_iree.py::test_large_tiled_vectors_compile_again_without_data_tiling and
test_tiled_load_from_buffer_compiles_again_without_data_tiling."""

import subprocess

import pytest
from iree.compiler.tools import CompilerToolError

from frontend_mess.backend import compiler
from frontend_mess.backend.targets import (
    DATA_TILING_RETRY_FLAGS,
    LARGE_VECTORS_ERROR,
    TILED_LOAD_ERROR,
    target_spec,
)
from frontend_mess.support.progress import QUIET


def _fake(monkeypatch, message: str) -> list[list[str]]:
    calls: list[list[str]] = []

    def compile_str(text, extra_args):
        calls.append(list(extra_args))
        if len(calls) == 1 or compiler._data_tiling_on(list(extra_args)):
            done = subprocess.CompletedProcess(["iree-compile"], 1, b"", message.encode())
            raise CompilerToolError(done)
        return b"module"

    monkeypatch.setattr("iree.compiler.tools.compile_str", compile_str)
    return calls


@pytest.mark.parametrize(
    "message",
    [
        f"error: {LARGE_VECTORS_ERROR} (32768 bytes) were found",
        f"error: {TILED_LOAD_ERROR} compatible and element types must match",
    ],
    ids=["large-vectors", "tiled-load"],
)
def test_data_tiling_failures_compile_again_without_it(monkeypatch, message):
    calls = _fake(monkeypatch, message)
    spec = target_spec("llvm-cpu")
    flags = list(spec.flags)
    assert compiler._compile_str("m", flags, [], spec, QUIET) == b"module"
    assert len(calls) == 2 and calls[1][-1:] == list(DATA_TILING_RETRY_FLAGS)
    assert flags[-1:] == list(DATA_TILING_RETRY_FLAGS)  # the artifact records it


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("llvm-cpu", (), "error: failed to legalize operation 'foo'"),  # another failure
        ("cuda", (), f"error: {LARGE_VECTORS_ERROR}"),  # not a CPU target
        # data tiling already off: a retry would compile the same thing again
        ("llvm-cpu", ("--iree-opt-data-tiling=false",), f"error: {LARGE_VECTORS_ERROR}"),
    ],
)
def test_no_retry_elsewhere(monkeypatch, target, extra, message):
    calls = _fake(monkeypatch, message)
    spec = target_spec(target, extra_flags=extra)
    with pytest.raises(CompilerToolError):
        compiler._compile_str("m", list(spec.flags), [], spec, QUIET)
    assert len(calls) == 1


def test_data_tiling_is_read_from_the_last_flag():
    assert compiler._data_tiling_on(["--iree-opt-data-tiling"])
    assert not compiler._data_tiling_on(["--iree-opt-data-tiling", "--iree-opt-data-tiling=false"])
    assert not compiler._data_tiling_on(["--iree-opt-level=O3"])


def test_a_retry_is_told_from_flags_the_spec_asked_for():
    """What matrix records (`retry_flags`) and bench's dispatch table read: the retry's flags
    only where the spec did not give them itself (tune's `no-data-tiling`, `--iree-flag`)."""
    from frontend_mess.backend.targets import retry_flags_added

    spec = target_spec("llvm-cpu")
    retried = [*spec.flags, *DATA_TILING_RETRY_FLAGS]
    assert retry_flags_added(retried, spec.flags) == list(DATA_TILING_RETRY_FLAGS)
    asked = target_spec("llvm-cpu", extra_flags=DATA_TILING_RETRY_FLAGS)
    assert retry_flags_added(list(asked.flags), asked.flags) == []
    assert retry_flags_added(list(spec.flags), spec.flags) == []
