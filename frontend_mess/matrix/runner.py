"""`frontend-mess matrix`: sources × import paths × targets, each cell in its own process with
a time and a memory limit, several at once, results appended as each cell ends (so a killed
run resumes), and a Markdown summary; `--compare` diffs two runs.

Suites: `torchvision` (every classification model), `hf-tiny` (the configs in data/hf-tiny,
shipped in the wheel),
`onnx-models` (the models the `onnx` wheel ships), `onnx-node` (onnx's node conformance cases,
written to a cache directory once: onnx_node.py). Each cell's process is forked from a server
that has already imported torch, IREE and onnx, so a small case costs its work, not 2 s of
imports.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from frontend_mess.backend.targets import host_isa
from frontend_mess.defaults import (
    DEFAULT_PARAMS,
    MATRIX_CUDA_ARCHS,
    MATRIX_JOBS,
    MATRIX_MEMORY_GB,
    MATRIX_TIMEOUT_S,
    ONNX_VIAS,
    SUITES,
    TORCHVISION_FAMILY_SUITES,
    VIAS,
)
from frontend_mess.matrix.cell import cell_spec
from frontend_mess.matrix.report import cell_key, json_safe, passed
from frontend_mess.support.atomic import write_atomically
from frontend_mess.support.errors import FrontendError
from frontend_mess.support.progress import QUIET, Progress
from frontend_mess.support.versions import frontend_mess_version, tool_versions

#: suites of ONNX sources: they take only the ONNX paths (one per ONNX importer).
ONNX_SUITES = ("onnx-models", "onnx-node")
#: suite data that ships inside the package (an installed wheel has it too).
DATA_DIR = Path(__file__).resolve().parent / "data"
HF_TINY_DIR = DATA_DIR / "hf-tiny"
ONNX_MODEL_KINDS = ("light", "simple", "pytorch-converted", "pytorch-operator")


def onnx_data_dir() -> Path:
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data"


#: the suites of hf-tiny's configs: as traced (`hf-tiny`), and its decoder-only causal LMs as
#: prefill + decode_step judged by greedy generation (`hf-generate`, matrix/cell.py)
HF_SUITES = ("hf-tiny", "hf-generate")


def is_causal_lm(config: Path) -> bool:
    """A decoder-only causal LM's config: its architecture is one transformers' causal-LM
    Auto class builds (GPT2LMHeadModel, LlamaForCausalLM, ...)."""
    from transformers.models.auto import modeling_auto

    from frontend_mess.importers.hf import TASKS

    data = json.loads(config.read_text())
    known = set(getattr(modeling_auto, TASKS["causal-lm"][1]).values())
    architectures = data.get("architectures") or []
    return not data.get("is_encoder_decoder") and any(a in known for a in architectures)


def cell_source(cell: dict) -> str:
    """The source a cell resolves. Records name sources so that they mean the same on every
    machine (`hf-config:hf-tiny/bert.json`, `simple/test_x/model.onnx`); this is
    where that name is found here."""
    source = cell["source"]
    if cell["suite"] in HF_SUITES:
        prefix, _, relative = source.partition(":")
        return f"{prefix}:{DATA_DIR / relative}"
    if cell["suite"] == "onnx-models":
        return str(onnx_data_dir() / source)
    return source


def torchvision_models(store=None, family: str = "classification") -> dict[str, int]:
    """Every torchvision model of a family and its parameter count. Listing them imports
    torchvision (and torch: 3.5 s here), so with a store the list is kept there, keyed by the
    tool versions: a matrix rerun whose every cell is cached imports neither."""
    import json

    from frontend_mess.store.keys import key_of

    suite = "torchvision" if family == "classification" else f"torchvision-{family}"
    key = key_of({"stage": "suite", "suite": suite, "versions": _versions()})
    action = store.lookup("suite", key) if store is not None else None
    data = store.read(action.outputs["models.json"]) if action is not None else None
    if data is not None:
        return json.loads(data)
    from torchvision import models

    module = models if family == "classification" else getattr(models, family)
    found = {
        n: int(models.get_model_weights(n).DEFAULT.meta["num_params"])
        for n in sorted(models.list_models(module=module))
    }
    if store is not None:
        store.record("suite", key, {"models.json": json.dumps(found).encode()}, {})
    return found


def suite_sources(
    suite: str, max_params_m: float | None = None, progress: Progress = QUIET, store=None
) -> list[str]:
    if suite == "torchvision" or suite in TORCHVISION_FAMILY_SUITES:
        counts = torchvision_models(store, TORCHVISION_FAMILY_SUITES.get(suite, "classification"))
        if max_params_m is None:
            return sorted(counts)
        return sorted(n for n, count in counts.items() if count <= max_params_m * 1e6)
    if suite in HF_SUITES:
        configs = sorted(HF_TINY_DIR.glob("*.json"))
        if suite == "hf-generate":
            configs = [p for p in configs if is_causal_lm(p)]
        return [f"hf-config:{p.relative_to(DATA_DIR)}" for p in configs]
    if suite == "onnx-models":
        root = onnx_data_dir()
        return [
            str(p.relative_to(root))
            for kind in ONNX_MODEL_KINDS
            for p in sorted((root / kind).rglob("*.onnx"))
        ]
    if suite == "onnx-node":
        from frontend_mess.matrix.onnx_node import case_names

        return case_names(progress)
    raise FrontendError(f"unknown suite {suite!r}: use one of {', '.join(SUITES)}")


def cells(
    suites: list[str],
    paths: list[str],
    targets: list[str],
    *,
    limit: int | None = None,
    max_params_m: float | None = None,
    match: list[str] | None = None,
    cuda_archs: tuple[str, ...] = MATRIX_CUDA_ARCHS,
    on_gpu: bool = False,
    store=None,
    progress: Progress = QUIET,
) -> list[dict]:
    """Every (suite, source, path, target) cell, a cuda one per architecture in `cuda_archs`.
    ONNX suites take the ONNX paths among `paths` (both importers when none is named); other
    suites take the paths as given. Cuda cells compile and assemble only, unless `on_gpu`:
    then they run and verify on this machine's GPU."""
    out = []
    for suite in suites:
        sources = suite_sources(suite, max_params_m, progress, store)
        if match:
            sources = [s for s in sources if any(m in s for m in match)]
        sources = sources[:limit]
        suite_paths = paths
        if suite in ONNX_SUITES:
            suite_paths = [p for p in paths if p in ONNX_VIAS] or list(ONNX_VIAS)
        # One architecture's cells after another's: the second finds each source's import
        # in the store, where side by side the two would import it at once.
        for arch in (None, *cuda_archs) if "cuda" in targets else (None,):
            for source in sources:
                for path in suite_paths:
                    for target in targets:
                        cell = {"suite": suite, "source": source, "path": path, "target": target}
                        if target != "cuda" and arch is None:
                            out.append({**cell, "compile_only": False})
                        elif target == "cuda" and arch is not None:
                            out.append({**cell, "cuda_arch": arch, "compile_only": not on_gpu})
    return out


def failed(cell: dict, status: str, error: str, error_class: str) -> dict:
    """The record of a cell whose process gave no record of its own."""
    return {
        **cell,
        "status": status,
        "stage": "",
        "error": error[:400],
        "error_class": error_class,
        "max_rel_error": None,
        "seconds": {},
    }


def _fork_server():
    """A multiprocessing context whose processes fork from a server that has already imported
    the heavy modules (matrix_cell.PRELOAD): each cell still gets its own process, limits and
    fate, without paying the imports again."""
    import multiprocessing

    from frontend_mess.matrix.cell import PRELOAD

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def run_one(
    cell: dict,
    timeout_s: int,
    memory_gb: float,
    store_root: str | None = None,
    fresh: bool = False,
) -> dict:
    """Run one cell in a process of its own (a Worker that runs only it); a timeout, a crash
    or an out-of-memory kill becomes that cell's record."""
    worker = Worker(memory_gb, store_root, fresh)
    try:
        return worker.run(cell, timeout_s)
    finally:
        worker.close()


def _died(cell: dict, process, log: Path) -> dict:
    """The record of a cell whose process ended without sending one: killed by a signal, or
    exited, the log's last line saying why."""
    process.join()
    if process.exitcode is not None and process.exitcode < 0:
        signal = -process.exitcode
        return failed(cell, "crash", f"killed by signal {signal}", f"signal {signal}")
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    tail = lines[-1] if lines else f"exit {process.exitcode}"
    return failed(cell, "crash", tail, _crash_class(tail))


#: Suites whose cells are small: they share worker processes (Worker) instead of a process
#: each. An onnx-node case is a few ops; its own process cost 0.13 s more than its work, and
#: each case's stages ran 20% slower in a process that had not yet run one (the first MLIR
#: context, the importer's and the runtime's first calls). Model cells keep a process each:
#: what a model leaves behind (fragmented memory under the address-space cap) must not fail
#: the next one.
SHARED_WORKER_SUITES = ("onnx-node",)


class Worker:
    """A process that runs small cells one after another, forked from the fork server with
    the same memory cap as a cell's own process (matrix_cell.worker_main). A cell that
    times out or kills the process fails alone, as it would in its own process: its record
    says so and the next cell starts a fresh worker; after MATRIX_CELLS_PER_WORKER cells
    a fresh one takes over anyway."""

    def __init__(self, memory_gb: float, store_root: str | None, fresh: bool) -> None:
        self.memory_gb, self.store_root, self.fresh = memory_gb, store_root, fresh
        self.process = self.connection = None
        self.cells = 0

    def _start(self) -> None:
        import tempfile

        from frontend_mess.matrix.cell import worker_main

        context = _fork_server()
        descriptor, log = tempfile.mkstemp(prefix="frontend-mess-worker-", suffix=".log")
        os.close(descriptor)  # the worker opens it as its stdout and stderr
        self.log = Path(log)
        self.connection, theirs = context.Pipe()
        self.process = context.Process(
            target=worker_main,
            args=(self.memory_gb, str(self.log), theirs, self.store_root, self.fresh),
            daemon=True,
        )
        self.process.start()
        theirs.close()
        self.cells = 0

    def run(self, cell: dict, timeout_s: int) -> dict:
        from frontend_mess.defaults import MATRIX_CELLS_PER_WORKER

        if self.process is not None and self.cells >= MATRIX_CELLS_PER_WORKER:
            self.close()
        if self.process is None:
            self._start()
        self.cells += 1
        try:
            self.connection.send(cell)
            if not self.connection.poll(timeout_s):
                self._stop(kill=True)
                return failed(cell, "timeout", f"over {timeout_s} s", "timeout")
            return self.connection.recv()
        except (EOFError, OSError):  # the process ended without a record
            record = _died(cell, self.process, self.log)
            self._stop(kill=True)
            return record

    def _stop(self, kill: bool) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()
        self.log.unlink(missing_ok=True)
        self.process = self.connection = None

    def close(self) -> None:
        """Ask the worker to end, and wait for it."""
        if self.process is None:
            return
        try:
            self.connection.send(None)
        except OSError:
            pass
        self._stop(kill=False)


#: statuses that say more about the machine than about the cell: never served from the store.
UNSTORED_STATUSES = ("timeout", "crash")


def cell_parts(cell: dict) -> dict:
    """What decides a cell's record, as the store keys it: the cell, its source's content
    (store/keys.py; an onnx-node case is made by the onnx version in every key), the target's
    flags and, for `--cpu host`, this host's CPU features."""
    from frontend_mess.backend.targets import host_key_for
    from frontend_mess.store.keys import source_identity

    source = cell_source(cell)
    identity = None if cell["suite"] == "onnx-node" else source_identity(source)
    flags = list(cell_spec(cell).flags)
    parts = {"cell": dict(cell), "source": identity, "flags": flags, "host": host_key_for(flags)}
    if cell["target"] == "cuda":  # the assemble stage's verdict is ptxas's
        parts["ptxas"] = _ptxas()
    return parts


@functools.cache
def _ptxas() -> str | None:
    from frontend_mess.backend.ptx import find_ptxas, ptxas_version

    found = find_ptxas()
    return ptxas_version(found) if found else None


def _crash_class(tail: str) -> str:
    from frontend_mess.matrix.cell import error_class, is_out_of_memory

    return "out of memory" if is_out_of_memory(tail) else error_class(tail)


@functools.cache
def _versions() -> dict[str, str]:
    return {"frontend-mess": frontend_mess_version(), **tool_versions()}


def context(cell: dict) -> dict:
    """What a record needs to be read later on its own: the environment variant (envs.py) and
    its tool versions, the flags, and the host's vector extension
    (`--iree-llvmcpu-target-cpu=host` compiles for it)."""
    from frontend_mess.envs import current

    record = {
        "env": current(),
        "versions": _versions(),
        "flags": list(cell_spec(cell).flags),
        "host_isa": _host_isa(),
    }
    if cell["target"] == "cuda" and not cell.get("compile_only", True):
        record["gpu"] = _gpu()  # the GPU and driver it ran on
    return record


@functools.cache
def _gpu() -> str:
    from frontend_mess.backend.targets import gpu_description

    return gpu_description()


@functools.cache
def _host_isa() -> str:
    return host_isa()


def _check_same_env(output: Path, previous: list[dict]) -> None:
    """A result file holds one environment variant's run: resuming another's would count its
    cells as done (cell keys carry no variant) and compare nothing."""
    from frontend_mess.envs import current
    from frontend_mess.matrix.report import env_of

    others = sorted({env_of(r) for r in previous} - {current()})
    if others:
        raise FrontendError(
            f"{output} holds records made in environment {', '.join(others)}, not "
            f"{current()}: give this run its own file (-o reports/drift/{current()}/...) "
            f"or --no-resume to start it over"
        )


#: what a line must hold to be a record: its cell's key (report.cell_key) and its status.
RECORD_KEYS = ("suite", "source", "path", "target", "status")


def read_results(
    path: Path, must_exist: bool = False, progress: Progress | None = None
) -> list[dict]:
    """The records in a result file (one JSON object per line). A damaged line anywhere (cut
    short by a kill mid-write, edited by hand, garbage) is skipped and reported: its cell
    reruns on resume. A file that must exist and holds no record at all is an error."""
    from frontend_mess.support.paths import input_file

    if not path.exists():
        if must_exist:
            raise FrontendError(f"result file {path} does not exist")
        return []
    input_file(path, "result file")
    records, damaged = [], []
    lines = path.read_bytes().decode(errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            record = None
        if not isinstance(record, dict) or not all(
            isinstance(record.get(key), str) for key in RECORD_KEYS
        ):
            damaged.append(number)
            continue
        records.append(record)
    if not records and must_exist:
        what = f"{len(damaged)} line(s) that are not one" if damaged else "it is empty"
        raise FrontendError(
            f"{path} holds no matrix record ({what}): is it a `frontend-mess matrix` result file?"
        )
    if damaged:
        shown = ", ".join(map(str, damaged[:5])) + (" ..." if len(damaged) > 5 else "")
        (progress or Progress()).note(
            f"{path}: skipped {len(damaged)} damaged line(s) ({shown}); their cells rerun"
        )
    return records


def run_matrix(
    todo: list[dict],
    output: Path,
    *,
    jobs: int | None = None,
    executor: str = "local",
    address: str | None = None,
    resume: bool = True,
    rerun_failures: bool = False,
    timeout_s: int = MATRIX_TIMEOUT_S,
    memory_gb: float = MATRIX_MEMORY_GB,
    store=None,
    fresh: bool = False,
    params: str = DEFAULT_PARAMS,
    progress: Progress = QUIET,
) -> list[dict]:
    """Run the cells not yet in `output` (all of them without `resume`); append each result
    as soon as it exists. Returns every record in `output` afterwards.

    `executor`: `local` runs `jobs` cells at once (default MATRIX_JOBS) on this machine;
    `ray` runs each as a Ray task on the cluster at `address` (or a local Ray instance),
    `jobs` at once (default: the cluster's CPUs; matrix/ray_executor.py).

    With a `store` (store/objects.py), a cell whose key (cell_parts) is stored is not run:
    its record is the stored one, marked `"cached": true`; a cell that runs stores its stages
    and then its record. Timeouts and crashes are not stored (they depend on the machine's
    load and limits): they run again."""
    previous = read_results(output, progress=progress) if resume else []
    _check_same_env(output, previous)
    if not resume and output.exists():
        output.unlink()
    wanted = {cell_key(c) for c in todo}
    keep = {
        cell_key(r): r
        for r in previous
        if not (rerun_failures and not passed(r) and cell_key(r) in wanted)
    }
    if output.exists():  # drop failures to rerun and damaged lines before appending
        text = "".join(
            json.dumps(json_safe(r), allow_nan=False) + "\n" for r in keep.values()
        ).encode()
        write_atomically(output, lambda handle: handle.write(text))
    pending = [c for c in todo if cell_key(c) not in keep]
    lock = threading.Lock()
    done = 0

    from frontend_mess.store.manifest import Run

    memo = Run(store, "matrix", fresh=fresh)
    store_root = str(store.root) if store is not None else None

    local, workers = threading.local(), []
    if executor == "ray":
        from frontend_mess.matrix import ray_executor

        gpus = any(c["target"] == "cuda" and not c.get("compile_only", True) for c in pending)
        cpus = ray_executor.connect(address, progress, gpus=gpus) if pending else 1
        jobs = jobs or cpus
        on_ray = ray_executor.RayCells(timeout_s, memory_gb, store_root, fresh)
    elif executor != "local":
        raise FrontendError(f"unknown executor {executor!r}: use local or ray")
    jobs = jobs or MATRIX_JOBS

    def worker() -> Worker:
        """This thread's worker for small cells."""
        if not hasattr(local, "worker"):
            local.worker = Worker(memory_gb, store_root, fresh)
            with lock:
                workers.append(local.worker)
        return local.worker

    def run(cell: dict) -> dict:
        """The cell's record, with the context of the machine that ran it."""
        if executor == "ray":
            return on_ray.run(cell)
        if cell["suite"] in SHARED_WORKER_SUITES:
            return {**worker().run(cell, timeout_s), **context(cell)}
        return {**run_one(cell, timeout_s, memory_gb, store_root, fresh), **context(cell)}

    def work(cell: dict) -> None:
        nonlocal done
        cell = {**cell, "params": params}
        key = memo.key("cell", cell_parts(cell), code=("import", "compile", "verify"))
        hit = memo.lookup("cell", key) if store is not None else None
        if hit is not None:
            record = {**json.loads(hit.outputs["record.json"]), "cached": True}
        else:
            record = run(cell)
            if store is not None and record["status"] not in UNSTORED_STATUSES:
                data = json.dumps(json_safe(record), allow_nan=False).encode()
                store.record("cell", key, {"record.json": data}, {"status": record["status"]})
        with lock:
            with output.open("a") as handle:
                # JSON a browser parses: an infinite error (an output of the wrong shape) is
                # written as null, the status says the rest
                handle.write(json.dumps(json_safe(record), allow_nan=False) + "\n")
            done += 1
            progress.note(
                f"[{done}/{len(pending)}] {record['status']:>12}  {cell['path']:<12} "
                f"{cell['source']}"
            )

    # path by path: the cells of one source on two paths share stages through the store
    # (an ONNX case's IR is the same from both importers, so is its compile: matrix/cell.py),
    # which they cannot while they run at once
    order = {path: n for n, path in enumerate((*VIAS, *ONNX_VIAS))}
    pending.sort(key=lambda c: order.get(c["path"], len(order)))
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(work, pending))
    finally:
        for each in workers:
            each.close()
    return read_results(output, progress=progress)


__all__ = ["SUITES", "VIAS", "cells", "read_results", "run_matrix"]
