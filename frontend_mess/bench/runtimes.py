"""Each runtime `bench` compares, prepared on the same model and inputs: a callable that runs
one inference on the fixed inputs and returns the outputs as NumPy arrays, and what preparing
it cost (compile time, artifact size). Threads are set equal: IREE's task pool, PyTorch's
intra-op pool and onnxruntime's intra-op pool all get `threads` workers, with inter-op
parallelism off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frontend_mess.backend.targets import RUNTIME_FLAGS, runtime_thread_flags
from frontend_mess.support.arrays import to_numpy
from frontend_mess.support.errors import FrontendError, first_lines
from frontend_mess.support.progress import QUIET, Progress


@dataclass
class Prepared:
    name: str
    call: Callable[[], list[np.ndarray]]
    #: seconds to make it runnable: iree-compile, torch.compile's first call, the ONNX
    #: export plus onnxruntime's session (graph optimization)
    compile_s: float | None = None
    artifact_bytes: int | None = None
    #: what a fresh process loads for a cold start (bench/cold.py), if it can
    cold_files: list[str] = field(default_factory=list)
    detail: str = ""
    #: the function called (an ONNX graph's is named after the graph, not `main`)
    function: str = "main"
    #: the compiler flags it was built with, as recorded (IREE's artifact)
    flags: list[str] = field(default_factory=list)


def set_iree_threads(threads: int) -> None:
    """Before the first device is made: IREE reads these flags when it creates the pool."""
    from frontend_mess.backend.runtime import configure_runtime

    configure_runtime(*runtime_thread_flags(threads))


def runtime_tool(name: str) -> str:
    """A command-line tool of the installed IREE runtime (iree-benchmark-module, iree-profile):
    where IREE's own console scripts find it, so it is the runtime `import iree.runtime` is."""
    import os

    from iree._runtime import libs

    path = os.path.join(libs.library_path, name)
    if not os.path.isfile(path):
        raise FrontendError(f"the IREE runtime here has no {name} ({path}): reinstall it")
    return path


def benchmark_command(
    files: list[str], function: str, inputs: list[str], threads: int, *extra: str
) -> list[str]:
    """`iree-benchmark-module` on a `.vmfb` (then its `.irpa` archives) with the bench's
    inputs and threads; `extra` flags last."""
    from frontend_mess.defaults import PARAMS_SCOPE

    return [
        runtime_tool("iree-benchmark-module"),
        "--device=local-task",
        *RUNTIME_FLAGS,
        f"--module={files[0]}",
        *(f"--parameters={PARAMS_SCOPE}={p}" for p in files[1:]),
        f"--function={function}",
        *(f"--input=@{p}" for p in inputs),
        *runtime_thread_flags(threads),
        *extra,
    ]


def ort_session(path: str | Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def iree(memo, spec, via, arrays: list[np.ndarray], workdir: Path, progress: Progress = QUIET):
    """frontend-mess's artifact: the same stages `compile` runs (weights in an archive where
    `--params` says so), saved to `workdir`, loaded memory-mapped as `run` loads it."""
    from frontend_mess.backend.artifact import Artifact

    memo.iree_input(via)  # the import is not the compile's time
    start = time.perf_counter()
    made = memo.artifact(spec, via)
    compile_s = time.perf_counter() - start
    cached = bool(memo.run.stages) and memo.run.stages[-1]["cached"]
    vmfb = made.save(workdir / "model.vmfb")
    archives = list(made.parameters)  # the store's object, or a scratch file: mapped as is
    module = Artifact.load(vmfb, tuple(archives)).module()
    function = module.default_function()
    size = vmfb.stat().st_size + sum(a.stat().st_size for a in archives)
    return Prepared(
        "iree",
        lambda: module.call(function, arrays),
        function=function,
        flags=list(made.flags),
        compile_s=compile_s,
        artifact_bytes=size,
        cold_files=[str(vmfb), *map(str, archives)],
        detail=f"via {made.via}, {spec.target}, {'external' if archives else 'inline'} weights"
        + (", compile served by the store" if cached else ""),
    )


def _torch_call(module, arrays: list[np.ndarray], device: str = "cpu"):
    """A call of `module` on `arrays` (copied to `device` once), its outputs as numpy."""
    import torch

    from frontend_mess.verify import flatten_outputs

    tensors = [torch.from_numpy(a.copy()).to(device) for a in arrays]

    def call():
        with torch.inference_mode():
            return [to_numpy(t) for t in flatten_outputs(module(*tensors))]

    return call


def eager(function, arrays: list[np.ndarray], device: str = "cpu") -> Prepared:
    """PyTorch eager on `device` (`cuda`: the module is moved there, cuda_vs_torch.py)."""
    module = function.module if device == "cpu" else function.module.to(device).eval()
    return Prepared(
        "eager",
        _torch_call(module, arrays, device),
        detail="PyTorch eager" + ("" if device == "cpu" else f", {device}"),
    )


def inductor(function, arrays: list[np.ndarray], progress: Progress = QUIET) -> Prepared:
    """`torch.compile` with its default backend (inductor, C++ on CPU); its compile time is the
    first call's, which is when it compiles."""
    import torch

    compiled = torch.compile(function.module)
    call = _torch_call(compiled, arrays)
    start = time.perf_counter()
    with progress.step("torch.compile (inductor): the first call compiles"):
        try:
            call()
        except Exception as exc:  # inductor's own failure: a row in the table, not the end
            raise FrontendError(
                f"torch.compile failed: {type(exc).__name__}: {first_lines(exc, 1)}"
            ) from exc
    return Prepared("inductor", call, compile_s=time.perf_counter() - start, detail="inductor")


def onnxruntime(
    onnx_path: Path, arrays: list[np.ndarray], threads: int, export_s: float = 0.0
) -> Prepared:
    start = time.perf_counter()
    session = ort_session(onnx_path, threads)
    made_s = time.perf_counter() - start
    names = [i.name for i in session.get_inputs()]
    if len(names) != len(arrays):
        raise FrontendError(
            f"the ONNX model takes {len(names)} inputs, the source {len(arrays)}: "
            f"the exporter dropped or added one"
        )
    feed = dict(zip(names, arrays, strict=True))
    return Prepared(
        "onnxruntime",
        lambda: [np.asarray(o) for o in session.run(None, feed)],
        compile_s=export_s + made_s,
        artifact_bytes=onnx_path.stat().st_size,
        cold_files=[str(onnx_path)],
        detail=f"CPUExecutionProvider, {'exported ' if export_s else ''}ONNX",
    )
