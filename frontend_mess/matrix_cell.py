"""One matrix cell, run in its own process: `python -m frontend_mess.matrix_cell '{json}'`.

Prints one JSON record on stdout: status, the stage that failed, the first error line, an
error class, the max relative error and each stage's seconds. The parent (`matrix.py`) limits
its time and memory, so a compiler crash or an out-of-memory kill costs this cell only.
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


def error_class(message: str) -> str:
    """A short, stable name for a failure: the op it names, or the exception type."""
    for pattern in (
        r"failed to legalize operation '([\w.]+)'",
        r"custom op '([\w.]+)'",
        r"'([\w.]+)' op ",
        r"unexpected (\w+)",
        r": (\w+(?:Error|Exception))",
    ):
        match = re.search(pattern, message)
        if match:
            return match[1]
    return message.split(":")[0][:60] if message else "unknown"


def run_cell(cell: dict) -> dict:
    from .compiler import compile_text
    from .defaults import VERIFY_ATOL, VERIFY_RTOL
    from .errors import FrontendError
    from .lowering import lower_source
    from .progress import QUIET
    from .sources import is_onnx, resolve
    from .targets import target_spec
    from .verify import onnx_checks, torch_checks

    seconds: dict[str, float] = {}
    record = {
        **cell,
        "status": "pass",
        "stage": "",
        "error": "",
        "error_class": "",
        "max_rel_error": None,
        "seconds": seconds,
    }

    def fail(status: str, stage: str, exc: Exception) -> dict:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        record.update(
            status=status, stage=stage, error=message[:400], error_class=error_class(message)
        )
        return record

    start = time.perf_counter()
    try:
        if is_onnx(cell["source"]):
            from .importers import onnx as onnx_importer

            model, mlir = onnx_importer.load_raw(cell["source"])
            input_type, functions = "onnx", None
        else:
            resolved = resolve(cell["source"])
            mlir, input_type = lower_source(resolved, cell["path"], QUIET)
            functions = resolved.functions
    except FrontendError as exc:
        return fail("lower-fail" if "could not lower" in str(exc) else "import-fail", "import", exc)
    seconds["import"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    try:
        spec = target_spec(cell["target"])
        artifact = compile_text(mlir, spec, input_type=input_type, name=cell["source"])
    except FrontendError as exc:
        return fail("compile-fail", "compile", exc)
    seconds["compile"] = round(time.perf_counter() - start, 2)
    if cell.get("compile_only"):
        return record
    start = time.perf_counter()
    try:
        module = artifact.module()
        if functions is None:
            checks = onnx_checks(model, module, seed=1, rtol=VERIFY_RTOL, atol=VERIFY_ATOL)
        else:
            checks = torch_checks(functions, module, seed=1, rtol=VERIFY_RTOL, atol=VERIFY_ATOL)
    except Exception as exc:  # noqa: BLE001  (any runtime failure is this cell's result)
        return fail("run-fail", "run", exc)
    seconds["run"] = round(time.perf_counter() - start, 2)
    record["max_rel_error"] = max((c.scaled_error for c in checks), default=None)
    if not all(c.ok for c in checks):
        record.update(
            status="mismatch",
            stage="compare",
            error_class="mismatch",
            error=next(c.line() for c in checks if not c.ok),
        )
    return record


def limit_memory(gigabytes: float) -> None:
    """Cap this process's address space, so an out-of-memory cell dies alone."""
    import resource

    limit = int(gigabytes * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


if __name__ == "__main__":
    if len(sys.argv) > 2:
        limit_memory(float(sys.argv[2]))
    print(json.dumps(run_cell(json.loads(sys.argv[1]))), flush=True)
