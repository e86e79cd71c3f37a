"""`matrix --executor ray`: each cell a Ray task, on an existing cluster (`--address`) or a Ray
instance started for the run. Ray is an optional extra (`uv sync --extra ray`).

Only where a cell runs changes: the driver (matrix/runner.py run_matrix) still decides what
to run, serves cells from the store, appends each record to the result file as it arrives
(so a killed driver resumes, losing and duplicating nothing) and writes the reports. On the
node, a task runs its cell as the local executor does (runner.run_one, runner.Worker): in a
process forked from a fork server that has torch, IREE and onnx loaded, under the address-space
cap and the time limit, so a cell that segfaults or runs out of memory fails alone and the Ray
worker lives on. The task declares what the cell needs: one CPU, memory (RAY_MEMORY_GB) and,
for a cuda cell that runs, a GPU, so that Ray places it on a node that has one. Its record
carries the node's own context (tool versions, host ISA, GPU) and the node's name. Every
node needs the same locked environment (`uv sync --extra ray` from the same checkout) and,
for stages to be shared across nodes, the store on a shared filesystem (`--store`).
notes/ray.md; tests/unit/test_ray.py; benchmarks/ray_overhead.py.
"""

from __future__ import annotations

import os
import socket

from frontend_mess.defaults import RAY_MEMORY_GB
from frontend_mess.support.errors import FrontendError
from frontend_mess.support.progress import QUIET, Progress

#: Ray (2.43 on) replicates a driver started under `uv run` onto its workers: it uploads the
#: driver's directory and starts each worker with the same `uv run` there, which builds a new
#: environment from pyproject.toml without the `ray` extra, so the worker dies at start ("No
#: module named 'ray'"; the raylet says "crashed during start") and the task never runs. That is
#: what `uv run pytest` in CI hit. Every node here has its own locked environment (the raylet's
#: Python), so the hook is off unless the user sets it; it is read when Ray is imported.
#: tests/unit/test_ray.py::test_a_driver_under_uv_run_uses_the_nodes_environment; notes/ray.md.
UV_RUN_HOOK = "RAY_ENABLE_UV_RUN_RUNTIME_ENV"


def _ray():
    os.environ.setdefault(UV_RUN_HOOK, "0")
    try:
        import ray
        from ray._private import ray_constants
    except ImportError as exc:
        raise FrontendError(
            "--executor ray needs Ray, an optional extra: `uv sync --extra ray` (pip: "
            "`pip install 'frontend-mess[ray]'`), on the driver and on every node"
        ) from exc
    # Ray read the variable when it was first imported; imported earlier in this process (an
    # API user, another test), its constant is set here too (ray.init reads it at call time)
    if os.environ[UV_RUN_HOOK].strip().lower() in ("0", "false"):
        ray_constants.RAY_ENABLE_UV_RUN_RUNTIME_ENV = False
    return ray


def connect(address: str | None, progress: Progress = QUIET, *, gpus: bool = False) -> int:
    """Join the cluster at `address` (`auto`: the one this machine or `ray job submit`
    belongs to), or start a Ray instance of this machine's own; returns its CPU count.
    `gpus`: cells need a GPU, which some node of the cluster must have."""
    ray = _ray()
    if not ray.is_initialized():
        where = address or "local"
        with progress.step(f"connecting to Ray ({where})"):
            try:
                ray.init(
                    address=where,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level="ERROR",
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise FrontendError(
                    f"--executor ray: could not reach a Ray cluster at {where} ({exc}); "
                    f"start one with `ray start --head`, or leave out --address for a local one"
                ) from exc
    resources = ray.cluster_resources()
    if gpus and not resources.get("GPU"):
        raise FrontendError(
            "--device cuda: no node of the Ray cluster has a GPU (ray status lists its "
            "resources); without --device, cuda cells compile and assemble on CPU nodes"
        )
    cpus = int(resources.get("CPU", 1))
    nodes = len([n for n in ray.nodes() if n.get("Alive")])
    progress.note(f"Ray: {nodes} node(s), {cpus} CPU(s)")
    return max(1, cpus)


def memory_request_gb(cell: dict, memory_gb: float) -> float:
    """What a cell declares to Ray's scheduler (the cap stays `memory_gb`)."""
    return min(memory_gb, RAY_MEMORY_GB.get(cell["suite"], RAY_MEMORY_GB["default"]))


class RayCells:
    """Runs cells as Ray tasks; `run` blocks on one, so the driver's threads keep as many
    cells in flight as it has threads (`-j`, by default the cluster's CPUs)."""

    def __init__(self, timeout_s: int, memory_gb: float, store_root: str | None, fresh: bool):
        self.ray = _ray()
        self.timeout_s, self.memory_gb = timeout_s, memory_gb
        self.store_root, self.fresh = store_root, fresh
        self._task = self.ray.remote(run_on_node)

    def run(self, cell: dict) -> dict:
        from frontend_mess.matrix.runner import failed

        on_gpu = cell["target"] == "cuda" and not cell.get("compile_only", True)
        options = {
            "num_cpus": 1,
            "num_gpus": 1 if on_gpu else 0,
            "memory": int(memory_request_gb(cell, self.memory_gb) * 2**30),
            "max_retries": 0,  # a cell that killed its worker fails; it is not run twice
        }
        ref = self._task.options(**options).remote(
            cell, self.timeout_s, self.memory_gb, self.store_root, self.fresh
        )
        # No deadline here: a task may wait in Ray's queue for a CPU or GPU, and once it runs
        # the node holds it to the cell's time limit (runner.Worker); a node that dies fails
        # its tasks with a RayError.
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:  # the task's worker or node died
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            record = failed(cell, "crash", text, f"ray {type(exc).__name__}")
            return {**record, **runner_context(cell)}


#: this Ray worker's process for small cells (runner.SHARED_WORKER_SUITES), kept across tasks
_worker = None


def run_on_node(
    cell: dict, timeout_s: int, memory_gb: float, store_root: str | None, fresh: bool
) -> dict:
    """A Ray task's body, on the node: the cell run as the local executor runs it, its record
    with this node's context and name."""
    global _worker
    from frontend_mess.matrix import runner

    os.environ.setdefault("CI", "1")  # no progress from the cell's stages in Ray's logs
    if cell["suite"] in runner.SHARED_WORKER_SUITES:
        if _worker is None:
            _worker = runner.Worker(memory_gb, store_root, fresh)
        record = _worker.run(cell, timeout_s)
    else:
        record = runner.run_one(cell, timeout_s, memory_gb, store_root, fresh)
    node = self_node()
    return {**record, **runner.context(cell), "node": node}


def self_node() -> str:
    """This Ray node: the host's name and Ray's node id (two nodes may share a host)."""
    ray = _ray()
    return f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}"


def runner_context(cell: dict) -> dict:
    """The driver's context, for a record no node made (its task died with its node)."""
    from frontend_mess.matrix.runner import context

    return {**context(cell), "node": "?"}
