"""The driver of `frontend-mess reduce` on MLIR: an `.mlir` file and the stage it fails at,
or a matrix cell of an FX path (fx-torch, fx-linalg, fx-tosa, fx-stablehlo, turbine) whose
compile or lower stage fails. The cell is run once as the matrix runs it, to learn how it
fails; the failing stage's input is then made here (the same pipeline functions), and the
search (mlir.py) runs each candidate through that stage in a fresh process (mlir_stage.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from frontend_mess.reduce.run import signature_of
from frontend_mess.support.errors import FrontendError
from frontend_mess.support.progress import QUIET, Progress

#: FX paths whose failing stage reduce can rebuild, and the kind each lowers to
FX_PATHS = {"fx-torch": None, "fx-linalg": "linalg", "fx-tosa": "tosa", "fx-stablehlo": "stablehlo"}
MLIR_PATHS = (*FX_PATHS, "turbine")


@dataclass
class ReducedMlir:
    cell: dict
    request: dict  # the stage, without the file: {"stage": "compile", "input_type", "target"}
    failure: dict  # the whole module's verdict
    record: dict  # the reduced module's
    original_ops: int
    ops: int
    text: str  # the reduced module, in generic form
    op_names: list[str]
    candidates: int
    seconds: float


class MlirOracle:
    """Runs a module through the stage of `request` in a fresh process; its verdict."""

    def __init__(self, request: dict, scratch: Path, timeout_s: int) -> None:
        self.request, self.scratch, self.timeout_s = request, scratch, timeout_s
        self.runs = 0

    def record(self, text: str) -> dict:
        self.runs += 1
        path = self.scratch / f"candidate-{self.runs}.mlir"
        path.write_text(text)
        argv = [sys.executable, "-m", "frontend_mess.reduce.mlir_stage"]
        try:
            done = subprocess.run(
                [*argv, json.dumps({**self.request, "file": str(path)})],
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "stage": self.request["stage"], "error_class": "timeout"}
        if done.returncode != 0:  # the compiler took the process down
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            return {
                "status": "crash",
                "stage": self.request["stage"],
                "error": last[:400],
                "error_class": f"exit {done.returncode}",
            }
        try:
            return json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):  # something else printed last
            last = (done.stdout.strip().splitlines() or ["no output"])[-1]
            return {"status": "error", "stage": self.request["stage"], "error": last[:400],
                    "error_class": "harness error: no verdict"}  # fmt: skip


def stage_input_of_cell(cell: dict, record: dict, progress: Progress = QUIET) -> tuple[str, dict]:
    """The MLIR that the failing stage of an FX-path cell takes (its weights inline), and the
    stage's request for mlir_stage.py."""
    from frontend_mess import pipeline
    from frontend_mess.importers import fx
    from frontend_mess.importers.hf_generation import GENERATION_TASK
    from frontend_mess.matrix.runner import cell_source
    from frontend_mess.sources import SourceOptions

    path, stage = cell["path"], record.get("stage")
    if path not in MLIR_PATHS:
        raise FrontendError(f"reduce takes MLIR of the paths {', '.join(MLIR_PATHS)}, not {path}")
    if stage not in ("compile", "lower"):
        raise FrontendError(
            f"{cell['source']} fails at the {stage or '?'} stage via {path}: reduce takes the "
            f"MLIR of a failing compile or lower stage (a mismatch: `verify --localize` names "
            f"its first diverging op)"
        )
    options = SourceOptions(task=GENERATION_TASK) if cell["suite"] == "hf-generate" else None
    loaded = pipeline.load(cell_source(cell), options, progress=progress)
    if stage == "compile":
        with progress.step(f"making the compile stage's input of {cell['source']} via {path}"):
            iree_input = pipeline.for_iree(loaded, path, progress)
        request = {"stage": "compile", "input_type": iree_input.input_type}
        request["target"] = cell["target"]
        if cell.get("cuda_arch"):
            request["cuda_arch"] = cell["cuda_arch"]
        return _as_text(iree_input.mlir), request
    kind = FX_PATHS.get(path)
    if kind is None:
        raise FrontendError(f"{path} has no lower stage of torch-mlir's to reduce")
    pipeline.export(loaded, progress)
    programs = loaded.prepared(progress)
    programs = {n: fx.rewritten_for(kind, p) for n, p in programs.items()}  # as to_mlir does
    module = fx.to_mlir(programs, "torch", name=loaded.name, prepared=True, progress=progress)
    return str(module), {"stage": "lower", "to": kind}


def _as_text(mlir: str | bytes) -> str:
    """MLIR text of a module given as text or bytecode (fx-torch's, turbine's)."""
    if isinstance(mlir, str):
        return mlir
    from frontend_mess.reduce.mlir import parse_module

    return str(parse_module(mlir)[2])


def failing_op_of(error_class: str) -> str:
    """The op an error class names (`tosa.gather`), or '' where it names none."""
    head = error_class.split()[0] if error_class else ""
    dialect, dot, name = head.partition(".")
    return head if dot and dialect.isidentifier() and name.replace(".", "_").isidentifier() else ""


def failing_types_of(error: str) -> str:
    """The `(operands) -> results` of the op a compile error points at (`[at: %1 = op %0 :
    (tensor<..>) -> tensor<..>]`, compiler.first_error), or ''."""
    at = error.rpartition("[at: ")[2].partition("]")[0]
    return at.rpartition(" : ")[2].strip() if " : " in at else ""


def reduce_mlir(
    cell: dict,
    text: str,
    request: dict,
    *,
    timeout_s: int,
    expected: tuple[str, ...] | None = None,
    progress: Progress = QUIET,
) -> ReducedMlir:
    """Reduce `text` to the smallest function that fails `request`'s stage as it does."""
    from frontend_mess.reduce.mlir import MlirFunction, reduce_function

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="frontend-mess-reduce-") as scratch:
        oracle = MlirOracle(request, Path(scratch), timeout_s)
        function = MlirFunction(text)  # parsed once: the failing op is located below
        generic = function.module.operation.get_asm(print_generic_op_form=True)
        with progress.step(f"running {cell['source']}'s {request['stage']} stage once"):
            failure = oracle.record(generic)
        if failure["status"] == "error":
            raise FrontendError(
                f"the {request['stage']} stage could not run on {cell['source']}'s MLIR "
                f"({failure['error'][:200]}): nothing to reduce"
            )
        if failure["status"] == "pass":
            raise FrontendError(
                f"{cell['source']} passes the {request['stage']} stage here: there is no "
                f"failure to reduce"
            )
        if expected is not None and signature_of(failure) != expected:
            raise FrontendError(
                f"{cell['source']}'s {request['stage']} stage fails differently here "
                f"({' / '.join(signature_of(failure))}) than the cell "
                f"({' / '.join(expected)}): rerun its matrix first"
            )
        function.locate(
            failing_op_of(failure["error_class"]), failing_types_of(failure.get("error", ""))
        )
        progress.note(
            f"failure: {failure['status']} at {failure['stage']}, {failure['error_class']!r}; "
            f"{len(function.ops)} ops, the first failing one at {function.failing}"
        )
        records: dict = {}

        def fails(candidate) -> bool:
            with progress.step(f"candidate of {len(candidate.kept)} ops"):
                records[candidate.key] = oracle.record(candidate.text)
            return signature_of(records[candidate.key]) == signature_of(failure)

        best = reduce_function(function, fails, on_step=progress.note)
        candidates = oracle.runs - 1
    seconds = round(time.perf_counter() - start, 1)
    if best is None:
        progress.note("no smaller function fails the same way: the repro is the whole module")
        names = [op.name for op in function.ops]
        return ReducedMlir(
            cell, request, failure, failure, len(function.ops), len(function.ops), generic,
            names, candidates, seconds,
        )  # fmt: skip
    names = [function.ops[i].name for i in sorted(best.kept)]
    return ReducedMlir(
        cell, request, failure, records[best.key], len(function.ops), len(best.kept),
        best.text, names, candidates, seconds,
    )  # fmt: skip
