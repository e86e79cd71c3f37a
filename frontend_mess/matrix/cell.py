"""One matrix cell, in a worker process forked from the matrix's fork server (`worker_main`:
a model cell's worker runs only it, small cells share one), or by hand with
`python -m frontend_mess.matrix.cell '{json}' [MEMORY_GB]`.

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
    # cuda without a GPU: compiled, and its PTX assembled for the real GPU by ptxas (not run)
    "assembled",
    "import-fail",
    "lower-fail",
    "compile-fail",
    "assemble-fail",
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
        # runtime.check_inputs: the compiled function wants other arguments than the model's
        # inputs (IREE 3.12's FX importer left BatchNorm buffers as arguments; notes/drift.md)
        (r"\w+ takes \d+ input\(s\) \(", "the function's inputs are not the model's"),
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


def is_out_of_memory(text: str) -> bool:
    """Whether a failure (an exception's text, or a crashed process's last line) is running
    out of memory. The one classifier: cells and the runner (runner._crash_class) use it."""
    return any(sign in text for sign in _OUT_OF_MEMORY)


#: a stage's failure -> the cell's status.
_STATUS_OF_STAGE = {
    "load": "import-fail",
    "export": "import-fail",
    "import": "import-fail",
    "lower": "lower-fail",
    "compile": "compile-fail",
    "assemble": "assemble-fail",
    "run": "run-fail",
}


class _Failed(Exception):
    def __init__(self, status: str, stage: str, cause: BaseException) -> None:
        super().__init__(status)
        self.status, self.stage, self.cause = status, stage, cause


class _Stages:
    """Times each stage of a cell; a stage's failure becomes the cell's status, read from the
    exception's own stage (support/errors.py StageError), never from its message."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        #: stages served from the store, computed by another cell
        self.shared: list[str] = []
        #: graph inputs bound to the case's values before compiling (onnx_specialize.py)
        self.specialized: list[str] = []
        #: flags the compile added on its own (compiler._compile_str's retry, iree #24876)
        self.retry_flags: list[str] = []

    def run(self, stage: str, work, *, catch_all: bool = False):
        from frontend_mess.support.errors import FrontendError

        start = time.perf_counter()
        try:
            result = work()
        except FrontendError as exc:
            failed = exc.stage or stage
            raise _Failed(_STATUS_OF_STAGE.get(failed, "import-fail"), failed, exc) from exc
        except Exception as exc:
            if not catch_all:
                raise
            raise _Failed(_STATUS_OF_STAGE[stage], stage, exc) from exc
        self.seconds[stage] = round(time.perf_counter() - start, 2)
        return result


def failure_fields(exc: BaseException, stage: str, path: str, name: str) -> dict:
    """A failed stage's record fields: its status, the first line of its error with the
    machine's `path` of the source written as its `name`, and the error's class (a crash
    where it ran out of memory). Cells and reduce's stage runs (reduce/mlir_stage.py) alike."""
    text = exc.message if hasattr(exc, "message") else str(exc)
    message = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    message = message.replace(path, name)  # no machine's paths
    fields = {
        "status": _STATUS_OF_STAGE.get(stage, "import-fail"),
        "stage": stage,
        "error": message[:400],
        "error_class": error_class(message, name),
    }
    if isinstance(exc, MemoryError) or is_out_of_memory(message):
        fields.update(status="crash", error_class="out of memory")
    return fields


def run_cell(cell: dict, store_root: str | None = None, fresh: bool = False) -> dict:
    """The cell's record. With `store_root`, a model cell's stages go through the store
    (store/stages.py): a stage whose inputs did not change is served from it, and the record
    names the run whose manifest lists every stage's objects (`store show RUN`)."""
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
    store_run = _store_run(cell, store_root, fresh)
    try:
        if cell["suite"] == "onnx-node":
            record.update(_node_cell(cell, stages, store_root, fresh))
        else:
            record.update(_model_cell(cell, stages, store_run))
    except _Failed as failed:
        from frontend_mess.matrix.runner import cell_source

        record.update(failure_fields(failed.cause, failed.stage, cell_source(cell), cell["source"]))
    if stages.shared:
        record["shared"] = stages.shared
    if stages.specialized:
        record["specialized"] = stages.specialized
    if stages.retry_flags:
        record["retry_flags"] = stages.retry_flags
    if store_run is not None and store_run.finish(record["status"]) is not None:
        record["run"] = store_run.id
    return record


def _store_run(cell: dict, store_root: str | None, fresh: bool):
    if store_root is None or cell["suite"] == "onnx-node":  # node cases: the record is kept
        return None
    from frontend_mess.store.manifest import Run
    from frontend_mess.store.objects import Store

    name = cell["source"].rsplit("/", 1)[-1].removesuffix(".json").removeprefix("hf-config:")
    argv = ["matrix-cell", json.dumps(cell)]
    return Run(Store(store_root), "matrix", name, argv=argv, fresh=fresh)


def _model_cell(cell: dict, stages: _Stages, store_run=None) -> dict:
    """A model source (torchvision, hf-config:, .py, .onnx) through the pipeline, verified
    against its framework on fresh random inputs (PyTorch eager, or onnxruntime)."""
    from frontend_mess import pipeline
    from frontend_mess.defaults import DEFAULT_PARAMS, VERIFY_ATOL, VERIFY_RTOL, VERIFY_SEED
    from frontend_mess.importers.hf_generation import GENERATION_TASK
    from frontend_mess.matrix.runner import cell_source
    from frontend_mess.sources import SourceOptions
    from frontend_mess.store.manifest import Run
    from frontend_mess.store.stages import Memo

    source = cell_source(cell)
    params = cell.get("params", DEFAULT_PARAMS)
    generation = cell["suite"] == "hf-generate"
    options = SourceOptions(task=GENERATION_TASK) if generation else SourceOptions()
    memo = Memo(store_run or Run(None, "matrix"), source, options, params=params)
    if not memo.cacheable or store_run is None or store_run.fresh:
        loaded = stages.run("load", memo.loaded)
        if loaded.kind == "torch":
            stages.run("export", lambda: pipeline.export(loaded))
    spec = cell_spec(cell)
    stages.run("import", lambda: memo.iree_input(cell["path"]))
    artifact = stages.run("compile", lambda: memo.artifact(spec, cell["path"], name=source))
    stages.retry_flags = _retry_flags(artifact, spec)
    assembled = _assembled(stages, artifact, spec, cell["source"])
    if cell.get("compile_only"):
        return assembled
    if generation:
        return {
            **assembled,
            **stages.run("run", lambda: _generation(memo, artifact), catch_all=True),
        }
    report = stages.run(
        "run",
        lambda: memo.verify(
            spec, cell["path"], seed=VERIFY_SEED, rtol=VERIFY_RTOL, atol=VERIFY_ATOL
        ),
        catch_all=True,
    )
    checks = report.checks
    result = {
        **assembled,
        "status": "pass",
        "max_rel_error": max((c.scaled_error for c in checks), default=None),
        "weak_check": any(c.insensitive for c in checks),
    }
    if not report.ok:
        failing = next(c.line() for c in checks if not c.ok)
        result.update(status="mismatch", stage="compare", error_class="mismatch", error=failing)
    return result


def _generation(memo, artifact) -> dict:
    """An hf-generate cell's judgement: greedy decoding on the artifact against the PyTorch
    modules' and transformers' own `generate` (generate.py; as `generate --check` judges)."""
    from frontend_mess import generate
    from frontend_mess.defaults import DEFAULT_NEW_TOKENS, VERIFY_ATOL, VERIFY_RTOL
    from frontend_mess.importers.hf_generation import GENERATION_PROMPT

    check = generate.check_artifact(
        memo.loaded(), artifact, list(GENERATION_PROMPT), DEFAULT_NEW_TOKENS,
        rtol=VERIFY_RTOL, atol=VERIFY_ATOL,
    )  # fmt: skip
    result = {
        "status": "pass",
        "max_rel_error": check.max_scaled_error,
        "tokens": check.artifact.tokens,
    }
    if not check.ok:
        error = check.line()
        result.update(status="mismatch", stage="compare", error_class="mismatch", error=error)
    return result


def _retry_flags(artifact, spec) -> list[str]:
    """The flags the compile added when it compiled again (targets.DATA_TILING_RETRY_FLAGS):
    the record's `flags` are the cell's spec, these what the artifact was compiled with too."""
    from frontend_mess.backend.targets import retry_flags_added

    return retry_flags_added(artifact.flags, spec.flags)


def cell_spec(cell: dict):
    """The TargetSpec a cell compiles with: its target, and a cuda cell's architecture."""
    from frontend_mess.backend.targets import target_spec
    from frontend_mess.defaults import DEFAULT_CUDA_ARCH

    return target_spec(cell["target"], cuda_arch=cell.get("cuda_arch") or DEFAULT_CUDA_ARCH)


def _assembled(stages: _Stages, artifact, spec, name: str) -> dict:
    """A cuda cell's assemble stage (ptxas for the real GPU): the record's `assembled` and the
    status `assembled`, which a run on a GPU turns into pass or a failure; {} on the CPU."""
    if spec.target != "cuda":
        return {}
    from frontend_mess import pipeline

    assembly = stages.run(
        "assemble", lambda: pipeline.assemble(artifact, spec, name=name, required=True)
    )
    return {"status": "assembled", "assembled": assembly.to_json()}


def _specialized(case) -> tuple[list[str], object]:
    """The case's inputs the compiler needs as constants (onnx_specialize.py) and its model with
    them bound to its data's values, as the ONNX Backend binds them at run time; where its data
    sets disagree on those values, none (the case then compiles as it is, and fails)."""
    from frontend_mess.importers import onnx_specialize

    names = onnx_specialize.constant_inputs(case.model)
    if not names or not case.data_sets:
        return [], case.model
    sets = [onnx_specialize.split(case.model, names, inputs)[0] for inputs, _ in case.data_sets]
    if len({onnx_specialize.value_key(values) for values in sets}) != 1:
        return [], case.model
    return names, onnx_specialize.bind(case.model, sets[0])


def _node_cell(
    cell: dict, stages: _Stages, store_root: str | None = None, fresh: bool = False
) -> dict:
    """An ONNX node conformance case: its own reference inputs and outputs, judged the way
    onnx's BackendTest judges every backend (shape, dtype, allclose with the case's rtol and
    atol), through the same pipeline stages as the ONNX Backend (onnx_backend.py). With a
    store, the compile goes through it (store/stages.py compiled): the two importers' cells
    of a case compile its one IR once."""
    import numpy as np
    from onnx.backend.test.runner import Runner

    from frontend_mess import pipeline
    from frontend_mess.matrix.onnx_node import load_case
    from frontend_mess.onnx_backend import IreeBackendRep
    from frontend_mess.verify import compare

    def load():
        case = load_case(cell["source"])
        stages.specialized, model = _specialized(case)
        return case, pipeline.load(model)

    case, loaded = stages.run("load", load)
    iree_input = stages.run("import", lambda: pipeline.for_iree(loaded, cell["path"]))
    spec = cell_spec(cell)
    if store_root is None:
        artifact = stages.run(
            "compile", lambda: pipeline.compile_input(iree_input, spec, name=case.name)
        )
    else:
        from frontend_mess.store.manifest import Run
        from frontend_mess.store.objects import Store
        from frontend_mess.store.stages import compiled

        # a node case's stages are not a run to list (`store log`): no manifest is written
        run = Run(Store(store_root), "matrix", case.name, fresh=fresh)
        artifact, shared = stages.run(
            "compile", lambda: compiled(run, iree_input, spec, name=case.name)
        )
        if shared:  # its seconds are a lookup's: the record says so
            stages.shared.append("compile")
    stages.retry_flags = _retry_flags(artifact, spec)
    assembled = _assembled(stages, artifact, spec, case.name)
    if cell.get("compile_only"):
        return assembled
    device = "CUDA" if cell["target"] == "cuda" else "CPU"

    def run_all():
        from frontend_mess.importers.onnx_specialize import split

        rep = IreeBackendRep(artifact, loaded.onnx, device)
        bound = stages.specialized
        return [
            (rep.run(split(case.model, bound, inputs)[1]), outputs)
            for inputs, outputs in case.data_sets
        ]

    results = stages.run("run", run_all, catch_all=True)
    numeric = [
        compare(case.name, i, np.asarray(g), np.asarray(w), case.rtol, case.atol).scaled_error
        for got, want in results
        for i, (g, w) in enumerate(zip(got, want, strict=False))
        if np.asarray(g).shape == np.asarray(w).shape
        and np.asarray(g).dtype.kind in "fiub"
        and np.asarray(w).dtype.kind in "fiub"
        and np.asarray(w).size
    ]
    result = {**assembled, "status": "pass", "max_rel_error": max(numeric, default=0.0)}
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


def worker_main(
    memory_gb: float,
    log_path: str,
    connection,
    store_root: str | None = None,
    fresh: bool = False,
) -> None:
    """Entry of a worker process (runner.Worker): it runs the cells it receives on
    `connection` one after another, each record sent back as it ends, until it receives None.
    Upstream output goes to `log_path`, restarted with each cell, so a crash's tail names
    that cell's cause; the address space is capped."""
    import os

    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    os.environ["CI"] = "1"
    limit_memory(memory_gb)
    while (cell := connection.recv()) is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.ftruncate(1, 0)
        os.lseek(1, 0, os.SEEK_SET)  # 1 and 2 share the offset: one open file
        connection.send(run_cell(cell, store_root, fresh))
    connection.close()


if __name__ == "__main__":
    if len(sys.argv) > 2:
        limit_memory(float(sys.argv[2]))
    from frontend_mess.matrix.report import json_safe

    record = json_safe(run_cell(json.loads(sys.argv[1])))
    print(json.dumps(record, allow_nan=False), flush=True)
