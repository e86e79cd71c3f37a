"""`bench`: one source, every runtime, side by side in one process (bench/__init__.py)."""

from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frontend_mess.bench import runtimes as rts
from frontend_mess.bench.timing import take_turns
from frontend_mess.defaults import (
    BENCH_COLD_RUNS,
    BENCH_ROUNDS,
    BENCH_RUNTIMES,
    DEFAULT_MODEL_DTYPE,
    VERIFY_SEED,
)
from frontend_mess.support.arrays import to_numpy
from frontend_mess.support.errors import FrontendError, first_lines
from frontend_mess.support.progress import QUIET, Progress

#: how long one fresh process may take for its cold start
COLD_TIMEOUT_S = 300


@dataclass
class Row:
    runtime: str
    detail: str = ""
    median_ms: float | None = None
    spread: float | None = None
    p90_ms: float | None = None
    #: inferences per second at the bench's batch size
    throughput: float | None = None
    compile_s: float | None = None
    #: a fresh process: load and first call (median over runs), and that minus a warm call
    cold_ms: float | None = None
    cold_over_warm_ms: float | None = None
    peak_mb: float | None = None
    artifact_bytes: int | None = None
    #: the largest error against the reference, as a fraction of what the tolerance allows
    #: (verify's rule: atol + rtol x the output's largest magnitude); <= 1 passes
    error_ratio: float | None = None
    numerics_ok: bool | None = None
    #: why this runtime has no figures
    error: str | None = None


@dataclass
class BenchReport:
    source: str
    batch: int
    threads: int
    rounds: int
    reference: str
    rows: list[Row] = field(default_factory=list)
    #: iree-benchmark-module's median for the same artifact (no Python in the loop)
    iree_benchmark_ms: float | None = None
    machine: dict | None = None
    dispatches: list[dict] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    host: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)

    def row(self, runtime: str) -> Row | None:
        return next((r for r in self.rows if r.runtime == runtime), None)

    def ratio(self, runtime: str, over: str) -> float | None:
        a, b = self.row(runtime), self.row(over)
        if a is None or b is None or a.median_ms is None or b.median_ms is None:
            return None
        return a.median_ms / b.median_ms

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def torch_inputs(function, seed: int) -> list[np.ndarray]:
    import torch

    from frontend_mess.verify import fresh_like

    generator = torch.Generator().manual_seed(seed)
    return [to_numpy(fresh_like(e, generator)) for e in function.example_args]


def _onnx_inputs(model, name: str, seed: int) -> list[np.ndarray]:
    """Random inputs from the loaded ONNX model's input types (its dims fixed by
    `--input-shape NAME=DIMS` where the file leaves them dynamic)."""
    from onnx import helper

    from frontend_mess.backend.signature import TensorType, element_type_name

    initializers = {i.name for i in model.graph.initializer}
    rng = np.random.default_rng(seed)
    arrays = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if any(d is None or d < 1 for d in dims):
            raise FrontendError(
                f"{name}: input {value.name!r} has dynamic dims: fix them with "
                f"--input-shape {value.name}=DIMS to bench"
            )
        element = element_type_name(helper.tensor_dtype_to_np_dtype(tensor.elem_type))
        arrays.append(TensorType(tuple(dims), element).random(rng))
    return arrays


def _check(
    prepared: rts.Prepared,
    reference: list[np.ndarray],
    row: Row,
    dtype: str = DEFAULT_MODEL_DTYPE,
) -> None:
    """Compare one call's outputs with the reference's (verify's tolerance for the model's
    --dtype); a runtime that fails when called gets its error in the row (and is not timed)."""
    from frontend_mess.verify import allowed_error, compare, tolerances

    rtol, atol = tolerances(dtype, None, None)

    try:
        got = prepared.call()
    except Exception as exc:  # noqa: BLE001  (any runtime's failure: a row, not the end)
        row.numerics_ok = False
        row.error = f"failed when called: {type(exc).__name__}: {first_lines(exc, 1)}"
        return
    if len(got) != len(reference):
        row.numerics_ok = False
        row.error = f"returned {len(got)} outputs, the reference {len(reference)}"
        return
    checks = [
        compare(row.runtime, i, np.asarray(g), np.asarray(e), rtol, atol)
        for i, (g, e) in enumerate(zip(got, reference, strict=True))
    ]
    row.numerics_ok = all(c.ok for c in checks)
    row.error_ratio = max(
        (c.max_abs / allowed_error(c.peak, rtol, atol) for c in checks),
        default=0.0,
    )


def cold_starts(kind: str, files: list[str], inputs: list[str], threads: int, runs: int) -> dict:
    """`runs` fresh processes (bench/cold.py) that load `files` as `kind` (`iree`,
    `onnxruntime`) and call it once: the medians of the cold start and of the cold start
    minus that process's median warm call, in ms, and the largest peak memory, in MB."""
    request = {"kind": kind, "files": files, "inputs": inputs, "threads": threads}
    results = []
    for _ in range(runs):
        try:
            done = subprocess.run(
                [sys.executable, "-m", "frontend_mess.bench.cold", json.dumps(request)],
                capture_output=True,
                text=True,
                timeout=COLD_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise FrontendError(f"the cold start of {kind} took over {COLD_TIMEOUT_S} s") from None
        lines = done.stdout.strip().splitlines()
        try:
            results.append(json.loads(lines[-1]))
        except (IndexError, ValueError):
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise FrontendError(
                f"the cold start of {kind} failed (exit {done.returncode}): {last[:300]}"
            ) from None
    return {
        "cold_ms": statistics.median(r["cold_ms"] for r in results),
        "cold_over_warm_ms": statistics.median(r["cold_ms"] - r["warm_ms"] for r in results),
        "peak_mb": max(r["peak_mb"] for r in results),
    }


def _iree_benchmark(prepared: rts.Prepared, inputs: list[str], threads: int) -> float:
    """iree-benchmark-module's median over three repetitions, in milliseconds."""
    command = rts.benchmark_command(
        prepared.cold_files,
        prepared.function,
        inputs,
        threads,
        "--benchmark_repetitions=3",
        "--benchmark_format=json",
    )
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise FrontendError(f"iree-benchmark-module failed: {first_lines(done.stderr, 1)}")
    try:
        entries = json.loads(done.stdout)["benchmarks"]
    except (ValueError, KeyError) as exc:
        raise FrontendError(f"iree-benchmark-module wrote no JSON report: {exc}") from exc
    for entry in entries:
        if entry.get("aggregate_name") == "median":
            scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[entry["time_unit"]]
            return entry["real_time"] * scale
    raise FrontendError("iree-benchmark-module reported no median")


def _retyped_reference(loaded):
    """The model onnxruntime runs for an ONNX source that the file itself is not: the float32
    reference of one retyped by --dtype, or the prepared model with the inputs --bind made
    constants; None where onnxruntime runs the file as it is."""
    reference = loaded.onnx_reference()
    return None if reference is loaded.onnx and not loaded.options.bound else reference


class _OnnxFile:
    """The ONNX file onnxruntime runs: the source itself, or the torch source exported
    (torch.onnx.export, as the onnx paths do) when first asked, with the export's seconds.
    An ONNX source under --dtype f16|bf16 runs as verify's reference does: the retyped graph
    back in float32 on its rounded weights (pipeline.Loaded.onnx_reference), fed the same
    inputs widened exactly, since onnxruntime's CPU kernels are mostly float32."""

    def __init__(self, path, function, options, name: str, work: Path, progress,
                 reference=None) -> None:  # fmt: skip
        self.path, self.function, self.options, self.name = path, function, options, name
        self.work, self.progress, self.export_s = work, progress, 0.0
        self.reference, self.reference_saved = reference, False

    def feed(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if self.reference is None:
            return inputs
        from frontend_mess.importers.onnx_dtype import as_inputs_of

        return as_inputs_of(self.reference, inputs)

    def get(self) -> Path:
        if self.reference is not None and not self.reference_saved:
            import onnx

            source, self.path = Path(self.path), self.work / "reference.onnx"
            model = self.reference
            large = model.ByteSize() > onnx.checker.MAXIMUM_PROTOBUF
            if large:  # saving with external data moves the tensors out of the proto it saves
                model = onnx.ModelProto()
                model.CopyFrom(self.reference)
            onnx.save(model, self.path, save_as_external_data=large)
            self.reference_saved = True
            why = [f"the float32 reference of its {self.options.dtype} graph"] * (
                self.options.dtype != DEFAULT_MODEL_DTYPE
            ) + [f"--bind's {', '.join(self.options.bound)}"] * bool(self.options.bound)
            self.progress.note(f"onnxruntime runs {source.name} as verify does: {'; '.join(why)}")
        if self.path is None:
            from frontend_mess.importers.onnx_export import export_onnx

            start = time.perf_counter()
            self.path = export_onnx(
                self.function,
                self.work / "model.onnx",
                self.options.onnx_exporter,
                name=self.name,
                progress=self.progress,
            )
            self.export_s = time.perf_counter() - start
        return self.path


def _prepare(name, memo, spec, via, function, inputs, work, threads, onnx, progress):
    """One runtime, ready to call on `inputs` (FrontendError: why it cannot run)."""
    if name == "iree":
        return rts.iree(memo, spec, via, inputs, work, progress)
    if name in ("eager", "inductor"):
        if function is None:
            raise FrontendError("the source is ONNX: there is no PyTorch model")
        if name == "eager":
            return rts.eager(function, inputs)
        return rts.inductor(function, inputs, progress)
    path = onnx.get()
    return rts.onnxruntime(path, onnx.feed(inputs), threads, onnx.export_s)


def bench(
    memo,
    spec,
    *,
    via: str | None = None,
    runtimes: tuple[str, ...] | None = None,
    threads: int,
    rounds: int = BENCH_ROUNDS,
    cold_runs: int = BENCH_COLD_RUNS,
    dispatches: bool = False,
    seed: int = VERIFY_SEED,
    progress: Progress = QUIET,
) -> BenchReport:
    """Bench `memo`'s source (store/stages.py Memo: its stages, through the store if it has
    one) with `spec`'s flags."""
    from frontend_mess.backend.targets import host_cpu_key
    from frontend_mess.support.versions import tool_versions

    source, options = str(memo.source), memo.options
    unknown = [r for r in runtimes or () if r not in BENCH_RUNTIMES]
    if unknown:
        raise FrontendError(
            f"unknown runtime {', '.join(unknown)}: use some of {', '.join(BENCH_RUNTIMES)}"
        )
    rts.set_iree_threads(threads)  # before anything makes an IREE device
    loaded = memo.loaded()
    if loaded.kind == "mlir":
        raise FrontendError(
            f"{source} is MLIR: there is no framework to compare with; bench the model it came from"
        )
    torch_source = loaded.kind != "onnx"
    reference = "eager" if torch_source else "onnxruntime"
    if runtimes is None:  # all that can run this source
        runtimes = BENCH_RUNTIMES if torch_source else ("iree", "onnxruntime")
    if reference not in runtimes:  # the numerics need it; it is timed beside the others
        runtimes = (reference, *runtimes)
    function = loaded.torch.main if torch_source else None
    with tempfile.TemporaryDirectory(prefix="frontend-mess-bench-") as scratch:
        work = Path(scratch)
        if torch_source:
            if len(loaded.torch.functions) > 1:
                raise FrontendError(f"{source} has several functions: bench takes one")
            inputs = torch_inputs(function, seed)
            onnx_path = None
        else:
            onnx_path = Path(source)
            inputs = _onnx_inputs(loaded.onnx, source, seed)
        input_files = []
        for index, array in enumerate(inputs):
            input_files.append(str(work / f"input{index}.npy"))
            np.save(input_files[-1], array)
        batch = int(inputs[0].shape[0]) if inputs and inputs[0].ndim else 1
        report = BenchReport(
            source=loaded.name,
            batch=batch,
            threads=threads,
            rounds=rounds,
            reference=reference,
            host=host_cpu_key(),
            versions=tool_versions(),
        )
        prepared: dict[str, rts.Prepared] = {}
        rounded = None if torch_source else _retyped_reference(loaded)
        onnx = _OnnxFile(onnx_path, function, options, loaded.name, work, progress, rounded)
        for name in runtimes:
            row = Row(name)
            report.rows.append(row)
            try:
                with progress.step(f"preparing {name}"):
                    prepared[name] = _prepare(name, memo, spec, via, function, inputs, work,
                                              threads, onnx, progress)  # fmt: skip
            except FrontendError as exc:
                row.error = exc.message
                progress.note(f"{name}: {row.error}")
                continue
            p = prepared[name]
            row.detail, row.compile_s, row.artifact_bytes = p.detail, p.compile_s, p.artifact_bytes
            if name == "iree":
                report.flags = p.flags  # as compiled (the parameter encoder's included)
        if reference not in prepared:
            raise FrontendError(
                f"the reference runtime ({reference}) could not run {source}: "
                f"{report.row(reference).error}"
            )
        try:
            expected = prepared[reference].call()
        except Exception as exc:  # the user's model on its own inputs, in its framework
            raise FrontendError(
                f"the reference ({reference}) failed on {source}: "
                f"{type(exc).__name__}: {first_lines(exc, 1)}"
            ) from exc
        for name, p in prepared.items():
            _check(p, expected, report.row(name), options.dtype)
        timed = {n: p for n, p in prepared.items() if report.row(n).error is None}
        with progress.step(f"timing {', '.join(timed)}: {rounds} rounds, taking turns"):
            timings = take_turns({n: p.call for n, p in timed.items()}, rounds=rounds)
        for name, latency in timings.items():
            row = report.row(name)
            row.median_ms, row.spread, row.p90_ms = (
                latency.median_ms,
                latency.spread,
                latency.p90_ms,
            )
            row.throughput = 1000 * batch / latency.median_ms
        for name, p in timed.items():
            if p.cold_files and cold_runs:
                try:
                    with progress.step(f"cold start of {name}: {cold_runs} fresh processes"):
                        cold = cold_starts(name, p.cold_files, input_files, threads, cold_runs)
                except FrontendError as exc:  # the other figures stand
                    progress.note(f"{name}: no cold start: {exc}")
                    continue
                row = report.row(name)
                row.cold_ms, row.cold_over_warm_ms = cold["cold_ms"], cold["cold_over_warm_ms"]
                row.peak_mb = cold["peak_mb"]
        if "iree" in timed:
            try:
                with progress.step("iree-benchmark-module on the same artifact"):
                    report.iree_benchmark_ms = _iree_benchmark(timed["iree"], input_files, threads)
                if dispatches:
                    report.machine, report.dispatches = _dispatches(
                        memo, spec, via, timed["iree"], input_files, threads, progress
                    )
            except FrontendError as exc:  # the table stands without them
                progress.note(f"iree: {exc}")
    return report


def _dispatches(memo, spec, via, prepared: rts.Prepared, inputs, threads, progress):
    from frontend_mess.backend.compiler import executable_sources
    from frontend_mess.backend.targets import retry_flags_added
    from frontend_mess.bench import dispatches, machine

    with progress.step("this machine's peaks (GEMM FLOP/s, copy bandwidth)"):
        peaks = machine.measure(threads)
    with progress.step("profiling every dispatch (IREE's HAL profiler)"):
        timings = dispatches.profile(prepared.cold_files, prepared.function, inputs, threads)
    with progress.step("each dispatch's linalg work (--compile-to=executable-sources)"):
        iree_input, _ = memo.iree_input(via)
        # the artifact's own flags: a compile retried without data tiling (iree #24876) has
        # other dispatches than the spec's flags would make
        added = retry_flags_added(prepared.flags, spec.flags)
        sources = executable_sources(
            iree_input.mlir,
            dataclasses.replace(spec, flags=(*spec.flags, *added)),
            input_type=iree_input.input_type,
            roles=iree_input.roles,
            pack_parameters=len(prepared.cold_files) > 1,  # as the artifact was compiled
        )
        work = dispatches.workload(sources)
    rows = dispatches.table(timings, work, peaks, dispatches.PROFILE_CALLS)
    return peaks.to_json(), [r.to_json() for r in rows]
