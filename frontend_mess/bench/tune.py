"""`frontend-mess tune`: a per-model search over a documented flag space (backend/targets.py
TUNE_SPACE). Every candidate is compiled by the same stages `compile` runs, its outputs are
checked against the framework's (PyTorch eager, or onnxruntime for ONNX) on the same fresh
inputs before it is timed, and the verified candidates are timed side by side, taking turns
(bench/timing.py). The two best single changes that beat the default are then tried
together. The winner is kept in the store (stage `tune`, keyed by the source, its options,
the flags it was tuned from and this host's CPU), where `compile --preset tuned` finds it.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from frontend_mess.backend.targets import TUNE_SPACE
from frontend_mess.bench import runtimes as rts
from frontend_mess.bench.run import (
    Row,
    _check,
    _onnx_inputs,
    _OnnxFile,
    _retyped_reference,
    torch_inputs,
)
from frontend_mess.bench.timing import take_turns
from frontend_mess.defaults import BENCH_ROUNDS, VERIFY_SEED
from frontend_mess.support.errors import FrontendError
from frontend_mess.support.progress import QUIET, Progress

#: a candidate must be this much faster than the default to be chosen over it (the blocks'
#: medians of a steady model lie within a few percent of each other here)
MIN_GAIN = 0.03


@dataclass
class Candidate:
    name: str
    flags: list[str]
    median_ms: float | None = None
    spread: float | None = None
    compile_s: float | None = None
    numerics_ok: bool | None = None
    error_ratio: float | None = None
    error: str | None = None


@dataclass
class TuneResult:
    source: str
    threads: int
    base_flags: list[str]
    winner: str
    #: what the winner adds to the base flags: `compile --preset tuned` appends these
    flags: list[str]
    #: the default's median over the winner's, timed side by side in the final round
    speedup: float
    candidates: list[Candidate] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> TuneResult:
        data = json.loads(text)
        data["candidates"] = [Candidate(**c) for c in data["candidates"]]
        return cls(**data)

    def text(self) -> str:
        from frontend_mess.analysis.report import _table

        rows = []
        for c in self.candidates:
            if c.error is not None:  # the whole message is in --json
                status = f"not timed: {c.error[:70]}{'...' if len(c.error) > 70 else ''}"
            elif c.numerics_ok is False:
                status = f"WRONG ({c.error_ratio:.2g} of tol): not timed"
            else:
                status = f"ok ({c.error_ratio:.2g} of tol)"
            rows.append(
                [
                    ("* " if c.name == self.winner else "  ") + c.name,
                    "-" if c.median_ms is None else f"{c.median_ms:.2f}",
                    "-" if c.spread is None else f"{100 * c.spread:.0f}%",
                    "-" if c.compile_s is None else f"{c.compile_s:.1f}",
                    status,
                    " ".join(c.flags) or "(the defaults)",
                ]
            )
        headers = ["candidate", "median ms", "spread", "compile s", "numerics", "flags"]
        return (
            "\n".join(
                [
                    f"tune {self.source}: {self.threads} threads, candidates taking turns",
                    "",
                    *_table(headers, rows),
                    "medians: the finalists' from the final round, side by side; the others' "
                    "from the first",
                    "",
                    f"winner: {self.winner}, {self.speedup:.2f}x the default's speed"
                    + (f"; adds {' '.join(self.flags)}" if self.flags else ""),
                ]
            )
            + "\n"
        )


def _evaluate(memo, spec, via, candidate, inputs, expected, work: Path, progress,
              dtype: str) -> object:  # fmt: skip
    """The candidate compiled and checked (at the --dtype's tolerance); its call if it
    computes the right numbers."""
    flagged = dataclasses.replace(spec, flags=(*spec.flags, *candidate.flags))
    directory = work / candidate.name
    directory.mkdir()
    try:
        with progress.step(f"candidate {candidate.name}: compile and check"):
            prepared = rts.iree(memo, flagged, via, inputs, directory, progress)
    except FrontendError as exc:
        candidate.error = exc.message
        return None
    candidate.compile_s = prepared.compile_s
    row = Row(candidate.name)
    _check(prepared, expected, row, dtype)
    candidate.numerics_ok, candidate.error_ratio = row.numerics_ok, row.error_ratio
    if row.error is not None:
        candidate.error = row.error
    return prepared.call if row.numerics_ok else None


def search(
    memo,
    spec,
    via: str | None,
    *,
    threads: int,
    names: tuple[str, ...] | None = None,
    rounds: int = BENCH_ROUNDS,
    seed: int = VERIFY_SEED,
    progress: Progress = QUIET,
) -> TuneResult:
    if spec.target != "llvm-cpu":
        raise FrontendError("tune searches llvm-cpu flags on this machine: use --target llvm-cpu")
    names = names or tuple(TUNE_SPACE)
    unknown = [n for n in names if n not in TUNE_SPACE]
    if unknown:
        raise FrontendError(
            f"unknown candidate {', '.join(unknown)}: use some of {', '.join(TUNE_SPACE)}"
        )
    names = ("default", *(n for n in names if n != "default"))
    rts.set_iree_threads(threads)
    loaded = memo.loaded()
    if loaded.kind == "mlir":
        raise FrontendError(f"{memo.source} is MLIR: there is no framework to check against")
    dtype = loaded.options.dtype
    candidates = {n: Candidate(n, list(TUNE_SPACE[n])) for n in names}
    with tempfile.TemporaryDirectory(prefix="frontend-mess-tune-") as scratch:
        work = Path(scratch)
        if loaded.kind == "onnx":
            inputs = _onnx_inputs(loaded.onnx, str(memo.source), seed)
            onnx = _OnnxFile(Path(memo.source), None, loaded.options, loaded.name, work,
                             progress, _retyped_reference(loaded))  # fmt: skip
            expected = rts.onnxruntime(onnx.get(), onnx.feed(inputs), threads).call()
        else:
            inputs = torch_inputs(loaded.torch.main, seed)
            expected = rts.eager(loaded.torch.main, inputs).call()
        calls = {}
        for c in candidates.values():
            call = _evaluate(memo, spec, via, c, inputs, expected, work, progress, dtype)
            if call is not None:
                calls[c.name] = call
        if "default" not in calls:
            raise FrontendError(
                f"the default flags do not give a verified artifact: "
                f"{candidates['default'].error or 'wrong numbers'} (verify it first)"
            )
        with progress.step(f"timing {len(calls)} candidates, {rounds} rounds taking turns"):
            timed = take_turns(calls, rounds=rounds)
        for name, latency in timed.items():
            candidates[name].median_ms, candidates[name].spread = latency.median_ms, latency.spread
        default_ms = candidates["default"].median_ms
        better = sorted(
            (c for c in candidates.values() if c.name in calls and c.name != "default"),
            key=lambda c: c.median_ms,
        )
        better = [c for c in better if c.median_ms < default_ms * (1 - MIN_GAIN)]
        final = {"default": calls["default"]}
        if better:
            final[better[0].name] = calls[better[0].name]
        if len(better) >= 2:
            pair = Candidate(
                f"{better[0].name}+{better[1].name}", [*better[0].flags, *better[1].flags]
            )
            candidates[pair.name] = pair
            call = _evaluate(memo, spec, via, pair, inputs, expected, work, progress, dtype)
            if call is not None:
                final[pair.name] = call
        if len(final) > 1:  # the finalists again, side by side: that decides
            with progress.step(f"final round: {', '.join(final)}"):
                timed = take_turns(final, rounds=rounds)
            for name, latency in timed.items():
                candidates[name].median_ms = latency.median_ms
                candidates[name].spread = latency.spread
        default_ms = candidates["default"].median_ms
        best = min(final, key=lambda n: candidates[n].median_ms)
        if candidates[best].median_ms >= default_ms * (1 - MIN_GAIN):
            best = "default"
    return TuneResult(
        source=loaded.name,
        threads=threads,
        base_flags=list(spec.flags),
        winner=best,
        flags=candidates[best].flags,
        speedup=default_ms / candidates[best].median_ms,
        candidates=list(candidates.values()),
    )
