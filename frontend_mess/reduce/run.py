"""The driver of `frontend-mess reduce`: what fails (a source and path, or a matrix cell's
record), how it fails (the cell's status, stage and error class, from one run of the whole
model), and the search for the smallest ONNX graph that fails the same way. Every candidate
runs as a matrix cell (matrix/cell.py: the same stages and verdicts as the matrix) in one
worker process, so a candidate that crashes the compiler or hangs fails alone."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from frontend_mess.matrix.report import passed
from frontend_mess.support.errors import FrontendError
from frontend_mess.support.progress import QUIET, Progress

#: what makes two failures the same: the status and stage of the record, and its error class
SAME = ("status", "stage", "error_class")


def signature_of(record: dict) -> tuple[str, ...]:
    return tuple(record.get(k, "") for k in SAME)


@dataclass
class Failure:
    cell: dict
    record: dict

    @property
    def signature(self) -> tuple[str, ...]:
        return signature_of(self.record)


def cell_of_record(text: str) -> tuple[dict, tuple[str, ...] | None]:
    """A matrix record (a line of a report, or `REPORT.jsonl:LINE`) -> its cell, and the
    failure's signature where the record has one."""
    if not text.lstrip().startswith("{"):
        path, _, line = text.rpartition(":")
        if not path or not line.isdigit():
            raise FrontendError(
                f"--cell takes a matrix record (a JSON line) or REPORT.jsonl:LINE, got {text!r}"
            )
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as exc:
            raise FrontendError(f"cannot read {path}: {exc.strerror}") from exc
        if not 1 <= int(line) <= len(lines):
            raise FrontendError(f"{path} has {len(lines)} lines, not line {line}")
        text = lines[int(line) - 1]
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FrontendError(f"--cell: not a JSON matrix record ({exc.msg})") from exc
    if not isinstance(record, dict) or not {"suite", "source", "path", "target"} <= set(record):
        raise FrontendError("--cell: a matrix record names suite, source, path and target")
    cell = {k: record[k] for k in ("suite", "source", "path", "target")}
    cell.update({k: record[k] for k in ("cuda_arch", "compile_only") if record.get(k)})
    expected = signature_of(record) if "status" in record else None
    return cell, expected


def onnx_model_of(cell: dict, progress: Progress):
    """The ONNX graph a cell runs: an .onnx source as it is (a node case: its model)."""

    from frontend_mess.matrix.runner import cell_source
    from frontend_mess.sources import is_onnx

    if cell["suite"] == "onnx-node":
        from frontend_mess.matrix.cell import _specialized
        from frontend_mess.matrix.onnx_node import load_case

        return _specialized(load_case(cell["source"]))[1]  # bound as its cell binds it
    source = cell_source(cell)
    if not is_onnx(source):
        raise FrontendError(
            f"reduce takes ONNX graphs via {cell['path']}: {cell['source']} is a "
            f"{cell['suite']} source, exported to ONNX inside the cell; reduce its MLIR on an "
            f"FX path instead (--cell of an fx-* or turbine cell)"
        )
    # the file's own graph, as the cell runs it (the cell's load checks and upgrades it): a
    # window of the upgraded graph would be a different program
    import onnx

    from frontend_mess.support.paths import input_file

    input_file(source, "ONNX model")
    try:
        return onnx.load(source)
    except Exception as exc:  # noqa: BLE001 - a damaged file: the cell's run says how
        raise FrontendError(f"cannot read {source} as an ONNX model: {exc}") from exc


def node_case_data(name: str) -> dict[str, bytes]:
    """A node case's first data set as onnx's backend tests keep it (TensorProto files),
    to go with its repro: the inputs it was run on and the outputs it should give."""
    from frontend_mess.matrix.onnx_node import cases_dir

    data_set = cases_dir() / name / "test_data_set_0"
    return {f"test_data_set_0/{f.name}": f.read_bytes() for f in sorted(data_set.glob("*.pb"))}


class Oracle:
    """Runs candidates as cells in one worker; says whether each fails like `failure`."""

    def __init__(self, failure_cell: dict, scratch: Path, timeout_s: int, memory_gb: float):
        from frontend_mess.matrix.runner import Worker

        self.base = {
            "suite": "reduce",
            "path": failure_cell["path"],
            "target": failure_cell["target"],
        }
        self.scratch, self.timeout_s = scratch, timeout_s
        self.worker = Worker(memory_gb, None, False)
        self.runs = 0

    def run_cell(self, cell: dict) -> dict:
        """`cell` itself, as the matrix runs it (a node case, judged by its own outputs)."""
        self.runs += 1
        return self.worker.run(cell, self.timeout_s)

    def record(self, model) -> dict:
        import onnx

        self.runs += 1
        path = self.scratch / f"candidate-{self.runs}.onnx"
        onnx.save(model, path)
        cell = {**self.base, "source": str(path)}
        record = self.worker.run(cell, self.timeout_s)
        # the candidate's scratch path is no one's: the repro's file is model.onnx
        record["error_class"] = record.get("error_class", "").replace(str(path), "MODEL")
        record["error"] = record.get("error", "").replace(str(path), "model.onnx")
        return record

    def close(self) -> None:
        self.worker.close()


@dataclass
class Reduced:
    failure: Failure
    original_ops: int
    model: object  # onnx.ModelProto
    ops: int
    record: dict
    candidates: int
    seconds: float
    #: files that go with the model (a node case's inputs and expected outputs)
    data: dict[str, bytes] = field(default_factory=dict)


def reduce(
    cell: dict,
    *,
    timeout_s: int,
    memory_gb: float,
    expected: tuple[str, ...] | None = None,
    progress: Progress = QUIET,
) -> Reduced:
    """Reduce the ONNX graph of `cell` to the smallest window that fails as it does
    (`expected`: the signature a report gave the cell, which the first run must match)."""
    from frontend_mess.reduce.graph import OnnxGraph, reduce_windows

    start = time.perf_counter()
    model = onnx_model_of(cell, progress)
    with tempfile.TemporaryDirectory(prefix="frontend-mess-reduce-") as scratch:
        oracle = Oracle(cell, Path(scratch), timeout_s, memory_gb)
        try:
            node_case = cell["suite"] == "onnx-node"
            with progress.step(f"running {cell['source']} via {cell['path']} once"):
                first = oracle.run_cell(cell) if node_case else oracle.record(model)
                failure = Failure(cell, first)
            if passed(failure.record):
                raise FrontendError(
                    f"{cell['source']} passes via {cell['path']} on {cell['target']}: "
                    f"there is no failure to reduce"
                )
            if expected is not None and failure.signature != expected:
                raise FrontendError(
                    f"{cell['source']} fails differently here ({' / '.join(failure.signature)}) "
                    f"than in the report ({' / '.join(expected)}): rerun its matrix first"
                )
            if (
                failure.record["status"] in ("timeout", "crash")
                and failure.record.get("error_class") == "out of memory"
            ):
                progress.note("the failure is running out of memory: a smaller graph may not")
            if node_case:
                # a conformance case is judged by its own reference outputs, a candidate by
                # onnxruntime's: a part of it would be judged differently. One node (or a
                # function's few) already: the case, as its cell binds it, is the repro.
                progress.note(
                    f"failure: {failure.record['status']} at {failure.record['stage'] or '?'}, "
                    f"{failure.record['error_class']!r}; an onnx-node case is its own repro"
                )
                nodes = len(model.graph.node)
                return Reduced(
                    failure,
                    nodes,
                    model,
                    nodes,
                    failure.record,
                    0,
                    round(time.perf_counter() - start, 1),
                    node_case_data(cell["source"]),
                )
            graph = OnnxGraph(model)
            progress.note(
                f"failure: {failure.record['status']} at {failure.record['stage'] or '?'}, "
                f"{failure.record['error_class']!r}; {len(graph.nodes)} nodes"
            )
            start_hi = None
            if failure.signature[0] == "mismatch":
                # localize ran on the upgraded graph: find its value in this one by name
                diverging = _first_diverging(model, cell, progress)
                start_hi = graph.producer.get(diverging) if diverging else None
            records: dict = {}

            def fails(window) -> bool:
                try:
                    candidate = graph.extract(window)
                except Exception:  # noqa: BLE001 - a window onnx cannot cut out is not a candidate
                    return False
                with progress.step(f"candidate of {len(window.nodes)} nodes"):
                    record = oracle.record(candidate)
                records[window] = record
                return signature_of(record) == failure.signature

            window = reduce_windows(graph, fails, start_hi=start_hi, on_step=progress.note)
            candidates = oracle.runs - 1
        finally:
            oracle.close()
    if window is None:  # the repro is the whole graph, as it failed
        progress.note(
            f"no smaller part of {cell['source']} fails the way the whole does "
            f"({failure.record['error_class']!r}): the repro is the whole graph"
        )
        return Reduced(
            failure,
            len(graph.nodes),
            model,
            len(graph.nodes),
            failure.record,
            candidates,
            round(time.perf_counter() - start, 1),
        )
    return Reduced(
        failure,
        len(graph.nodes),
        graph.extract(window),
        len(window.nodes),
        records[window],
        candidates,
        round(time.perf_counter() - start, 1),
    )


def _first_diverging(model, cell: dict, progress: Progress) -> str | None:
    """The value of the first node that diverges (localize.py), where it finds one."""
    from frontend_mess import pipeline
    from frontend_mess.backend.targets import target_spec
    from frontend_mess.defaults import VERIFY_ATOL, VERIFY_RTOL, VERIFY_SEED
    from frontend_mess.localize import localize

    try:
        loaded = pipeline.load(model, progress=progress)
        result = localize(
            loaded,
            target_spec(cell["target"]),
            via=cell["path"],
            seed=VERIFY_SEED,
            rtol=VERIFY_RTOL,
            atol=VERIFY_ATOL,
            progress=progress,
        )
    except Exception as exc:  # noqa: BLE001 - localize is a hint: the search starts anyway
        progress.note(f"localize could not run ({type(exc).__name__}); searching from the outputs")
        return None
    if result.first is None:
        progress.note("localize: no intermediate value diverges; searching from the outputs")
        return None
    progress.note(f"localize: the first diverging node is {result.first.node} ({result.first.op})")
    return result.first.where  # the ONNX value's name
