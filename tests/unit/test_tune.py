"""`frontend-mess tune`: the search's rules on a fake compiler (fast), and a real tune of a
small model whose winner `compile --preset tuned` then uses from the store (slow)."""

from __future__ import annotations

import functools
import time
from types import SimpleNamespace

import pytest
import torch

from frontend_mess.api import make_options
from frontend_mess.backend.targets import target_spec
from frontend_mess.bench import timing, tune
from frontend_mess.bench.runtimes import Prepared
from frontend_mess.cli import main
from frontend_mess.sources import Function
from frontend_mess.support.errors import FrontendError

SPACE = {
    "default": (),
    "fast": ("--fast",),
    "faster": ("--faster",),
    "wrong": ("--wrong",),
    "broken": ("--broken",),
}
# seconds per call by the flags a candidate adds; the pair of the two best is fastest
DELAY = {(): 0.004, ("--fast",): 0.002, ("--faster",): 0.0015, ("--faster", "--fast"): 0.0005}


def _fake(monkeypatch, dtype: str = "f32"):
    module = torch.nn.Linear(4, 3).eval()
    loaded = SimpleNamespace(
        kind="torch",
        name="linear",
        options=make_options(dtype=dtype),
        torch=SimpleNamespace(main=Function(module, (torch.randn(2, 4),))),
    )
    memo = SimpleNamespace(loaded=lambda: loaded, source="linear.py")

    def compile_candidate(memo, spec, via, inputs, workdir, progress):
        added = tuple(spec.flags[len(target_spec("llvm-cpu").flags) :])
        if "--broken" in added:
            raise FrontendError("IREE failed at codegen (on purpose)")
        x = torch.from_numpy(inputs[0])
        with torch.no_grad():
            right = module(x).numpy()
        if "--wrong" in added:
            return Prepared("iree", lambda: [right + 1.0], compile_s=0.1)
        if "--rounded" in added:  # off by 0.5% of the output's scale: f16's rounding, not f32's
            off = right + 5e-3 * abs(right).max()
            return Prepared("iree", lambda: [off], compile_s=0.1)
        delay = DELAY[tuple(sorted(added, reverse=True))]

        def call():
            time.sleep(delay)
            return [right]

        return Prepared("iree", call, compile_s=0.1)

    monkeypatch.setattr(tune, "TUNE_SPACE", SPACE)
    monkeypatch.setattr(tune.rts, "iree", compile_candidate)
    monkeypatch.setattr(tune.rts, "set_iree_threads", lambda threads: None)
    fast_turns = functools.partial(timing.take_turns, block_s=0.01, pause_s=0.0)
    monkeypatch.setattr(tune, "take_turns", fast_turns)
    return memo


def test_only_verified_candidates_are_timed_and_the_best_pair_wins(monkeypatch):
    memo = _fake(monkeypatch)
    result = tune.search(memo, target_spec("llvm-cpu"), None, threads=1, rounds=2)
    by_name = {c.name: c for c in result.candidates}
    assert by_name["wrong"].numerics_ok is False and by_name["wrong"].median_ms is None
    assert "on purpose" in by_name["broken"].error and by_name["broken"].median_ms is None
    assert by_name["faster+fast"].flags == ["--faster", "--fast"]
    assert result.winner == "faster+fast"
    assert result.flags == ["--faster", "--fast"]
    assert result.speedup > 2  # 4 ms vs 0.5 ms a call, with the timer's overhead
    assert "faster+fast" in result.text() and "WRONG" in result.text()
    assert tune.TuneResult.from_json(result.to_json()) == result


@pytest.mark.parametrize(("dtype", "accepted"), [("f32", False), ("f16", True)])
def test_candidates_are_checked_at_the_dtypes_tolerance(monkeypatch, dtype, accepted):
    memo = _fake(monkeypatch, dtype)
    monkeypatch.setitem(SPACE, "rounded", ("--rounded",))
    monkeypatch.setitem(DELAY, ("--rounded",), 0.002)
    result = tune.search(
        memo, target_spec("llvm-cpu"), None, threads=1, names=("default", "rounded"), rounds=2
    )
    rounded = next(c for c in result.candidates if c.name == "rounded")
    assert rounded.numerics_ok is accepted


def test_the_default_stays_when_nothing_beats_it(monkeypatch):
    memo = _fake(monkeypatch)
    monkeypatch.setitem(DELAY, ("--fast",), 0.004)  # no faster than the default
    result = tune.search(
        memo, target_spec("llvm-cpu"), None, threads=1, names=("default", "fast"), rounds=2
    )
    assert result.winner == "default" and result.flags == []


def test_unknown_candidates_and_targets_are_refused(monkeypatch):
    memo = _fake(monkeypatch)
    with pytest.raises(FrontendError, match="unknown candidate nope"):
        tune.search(memo, target_spec("llvm-cpu"), None, threads=1, names=("nope",))
    with pytest.raises(FrontendError, match="use --target llvm-cpu"):
        tune.search(memo, target_spec("cuda"), None, threads=1)


def test_preset_tuned_without_a_tune_says_what_to_run(capsys, inputs_dir, tmp_path):
    code = main(
        [
            "compile",
            str(inputs_dir / "mlp.py"),
            "--preset",
            "tuned",
            "-q",
            "--store",
            str(tmp_path / "store"),
            "-o",
            str(tmp_path / "m.vmfb"),
        ]
    )
    assert code != 0
    assert "run `frontend-mess tune" in capsys.readouterr().err
    assert not (tmp_path / "m.vmfb").exists()


@pytest.mark.slow
def test_tune_stores_a_winner_that_compile_uses(capsys, inputs_dir, tmp_path):
    store = str(tmp_path / "store")
    source = str(inputs_dir / "mlp.py")
    argv = ["tune", source, "--candidates", "default,reassociate,no-ukernels", "--rounds", "2"]
    assert main([*argv, "--store", store, "--json", "-q"]) == 0
    found = tune.TuneResult.from_json(capsys.readouterr().out)
    assert {c.name for c in found.candidates} >= {"default", "reassociate", "no-ukernels"}
    assert all(c.numerics_ok for c in found.candidates if c.error is None)
    assert main([*argv, "--store", store]) == 0  # served by the store: the same winner
    again = capsys.readouterr()
    assert f"winner: {found.winner}" in again.out and "tune: cached" in again.err
    vmfb = tmp_path / "m.vmfb"
    code = main(["compile", source, "--preset", "tuned", "--store", store, "-o", str(vmfb)])
    err = capsys.readouterr().err
    assert code == 0 and vmfb.is_file()
    assert "preset: tuned" in err
    assert all(flag in err for flag in found.flags)
