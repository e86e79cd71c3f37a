"""One matrix cell, in its own process: forked from the matrix's fork server (`child_main`),
or by hand with `python -m frontend_mess.matrix_cell '{json}' [MEMORY_GB]`.

The record says: status, the stage that failed, the first error line, an error class, the max
error relative to the output's scale and each stage's seconds. The process caps its own
address space; the parent (`matrix.py`) enforces the time limit, so a compiler crash or an
out-of-memory kill costs this cell only.
"""

from __future__ import annotations

import json
import re
import sys
import time

STATUSES = (
    "pass",
    "import-fail",
    "lower-fail",
    "compile-fail",
    "run-fail",
    "mismatch",
    "timeout",
    "crash",
)


# How running out of the address-space limit reads, depending on what was allocating.
_OUT_OF_MEMORY = (
    "MemoryError",
    "std::bad_alloc",
    "out of memory",
    "Cannot allocate memory",
    "failed to map segment",
)


def error_class(message: str, source: str = "") -> str:
    """A short, stable name for a failure, to count failures by cause: the ONNX or MLIR op it
    names, the runtime status code, or the exception type; else the compiler's error text with
    the model's name and numbers taken out."""
    for pattern, template in (
        (r'name = "(onnx\.\w+)"', "{}"),
        (r"failed to legalize operation '([\w.]+)'", "{}"),
        (r"custom op '([\w.]+)'", "{}"),
        (r"'([\w.]+)' op ", "{}"),
        (r"\.c:\d+: ([A-Z_]{4,});", "runtime {}"),
        (r"must be tensor<(?:[0-9?]+x)*(\w+)>, got (?:\d+x)*(\w+)", "input {} given {}"),
        (r"unexpected (\w+)", "{}"),
        (r": (\w+(?:Error|Exception))", "{}"),
    ):
        match = re.search(pattern, message)
        if match:
            return template.format(*match.groups())
    if source:  # the same failure on two models is one class
        message = message.replace(source, "MODEL")
    if "error: " in message:
        text = message.split("error: ", 1)[1]
        text = re.sub(r"\(--keep-diagnostics.*", "", text)
        return re.sub(r"\d+", "N", text).strip()[:80]
    return message.split(":")[0][:60] if message else "unknown"


class _Failed(Exception):
    def __init__(self, status: str, stage: str, cause: BaseException) -> None:
        super().__init__(status)
        self.status, self.stage, self.cause = status, stage, cause


class _Stages:
    """Times each stage of a cell; a stage's expected failure becomes the cell's status."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, stage: str, status: str, work, catch=None):
        from .errors import FrontendError

        caught = catch or FrontendError
        start = time.perf_counter()
        try:
            result = work()
        except caught as exc:
            if isinstance(exc, FrontendError) and "could not lower" in str(exc):
                status = "lower-fail"
            raise _Failed(status, stage, exc) from None
        self.seconds[stage] = round(time.perf_counter() - start, 2)
        return result


def run_cell(cell: dict) -> dict:
    stages = _Stages()
    record = {
        **cell,
        "status": "pass",
        "stage": "",
        "error": "",
        "error_class": "",
        "max_rel_error": None,
        "seconds": stages.seconds,
    }
    try:
        run = _node_cell if cell["suite"] == "onnx-node" else _model_cell
        record.update(run(cell, stages))
    except _Failed as failed:
        exc = failed.cause
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        from .matrix import cell_source

        message = message.replace(cell_source(cell), cell["source"])  # no machine's paths
        record.update(
            status=failed.status,
            stage=failed.stage,
            error=message[:400],
            error_class=error_class(message, cell["source"]),
        )
        if isinstance(exc, MemoryError) or any(s in message for s in _OUT_OF_MEMORY):
            record.update(status="crash", error_class="out of memory")
    return record


def _model_cell(cell: dict, stages: _Stages) -> dict:
    """A model source (torchvision, hf-config:, .py, .onnx), verified against its framework on
    fresh random inputs (PyTorch eager, or onnxruntime for ONNX files)."""
    from .compiler import compile_text
    from .defaults import VERIFY_ATOL, VERIFY_RTOL, VERIFY_SEED
    from .lowering import ONNX_VIAS, lower_source
    from .matrix import cell_source
    from .progress import QUIET
    from .sources import is_onnx, resolve
    from .targets import target_spec
    from .verify import onnx_checks, torch_checks

    source = cell_source(cell)
    if is_onnx(source):
        from .importers import onnx as onnx_importer

        importer = ONNX_VIAS[cell["path"]]
        model, mlir = stages.run(
            "import", "import-fail", lambda: onnx_importer.load_raw(source, importer=importer)
        )
        input_type, functions = "onnx", None
    else:
        resolved = stages.run("load", "import-fail", lambda: resolve(source))
        mlir, input_type = stages.run(
            "import", "import-fail", lambda: lower_source(resolved, cell["path"], QUIET)
        )
        functions = resolved.functions
    spec = target_spec(cell["target"])
    artifact = stages.run(
        "compile",
        "compile-fail",
        lambda: compile_text(mlir, spec, input_type=input_type, name=source),
    )
    if cell.get("compile_only"):
        return {}
    tolerances = {"seed": VERIFY_SEED, "rtol": VERIFY_RTOL, "atol": VERIFY_ATOL}

    def check():
        module = artifact.module()
        if functions is None:
            return onnx_checks(model, module, **tolerances)
        return torch_checks(functions, module, **tolerances)

    checks = stages.run("run", "run-fail", check, catch=Exception)
    result = {
        "max_rel_error": max((c.scaled_error for c in checks), default=None),
        "weak_check": any(c.insensitive for c in checks),
    }
    if not all(c.ok for c in checks):
        failing = next(c.line() for c in checks if not c.ok)
        result.update(status="mismatch", stage="compare", error_class="mismatch", error=failing)
    return result


def _node_cell(cell: dict, stages: _Stages) -> dict:
    """An ONNX node conformance case: its own reference inputs and outputs, judged the way
    onnx's BackendTest judges every backend (shape, dtype, allclose with the case's rtol and
    atol)."""
    import numpy as np
    from onnx.backend.test.runner import Runner

    from .lowering import ONNX_VIAS
    from .onnx_backend import IreeBackendRep, compile_model, import_model
    from .onnx_node import load_case
    from .verify import compare

    case = stages.run("load", "import-fail", lambda: load_case(cell["source"]))
    importer = ONNX_VIAS[cell["path"]]
    model, mlir = stages.run("import", "import-fail", lambda: import_model(case.model, importer))
    device = "CUDA" if cell["target"] == "cuda" else "CPU"
    artifact = stages.run(
        "compile", "compile-fail", lambda: compile_model(mlir, device, name=case.name)
    )
    if cell.get("compile_only"):
        return {}

    def run_all():
        rep = IreeBackendRep(artifact, model, device)
        return [(rep.run(inputs), outputs) for inputs, outputs in case.data_sets]

    results = stages.run("run", "run-fail", run_all, catch=Exception)
    numeric = [
        compare(case.name, i, np.asarray(g), np.asarray(w), case.rtol, case.atol).scaled_error
        for got, want in results
        for i, (g, w) in enumerate(zip(got, want, strict=False))
        if np.asarray(g).shape == np.asarray(w).shape
        and np.asarray(g).dtype.kind in "fiub"
        and np.asarray(w).dtype.kind in "fiub"
        and np.asarray(w).size
    ]
    result = {"max_rel_error": max(numeric, default=0.0)}
    try:
        for got, want in results:
            Runner.assert_similar_outputs(want, got, case.rtol, case.atol)
    except (AssertionError, TypeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        result.update(
            status="mismatch",
            stage="compare",
            error_class="mismatch",
            error=" ".join(lines[:3])[:400],
        )
    return result


def limit_memory(gigabytes: float) -> None:
    """Cap this process's address space, so an out-of-memory cell dies alone."""
    import resource

    limit = int(gigabytes * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


#: Imported once by the fork server, so that each cell's process starts with them loaded:
#: about 2 s per cell (torch alone is most of it), which is most of a small ONNX case's time.
PRELOAD = ["numpy", "onnx", "iree.compiler", "iree.runtime", "torch", __name__]


def child_main(cell: dict, memory_gb: float, log_path: str, connection) -> None:
    """Entry of a cell's process (forked from the fork server): upstream output goes to
    `log_path` (its tail names the cause of a crash), the record goes back on `connection`."""
    import os

    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.environ["CI"] = "1"
    limit_memory(memory_gb)
    connection.send(run_cell(cell))
    connection.close()


if __name__ == "__main__":
    if len(sys.argv) > 2:
        limit_memory(float(sys.argv[2]))
    print(json.dumps(run_cell(json.loads(sys.argv[1]))), flush=True)
