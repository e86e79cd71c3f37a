"""Where the artifact's time goes: every dispatch's time, measured by IREE's own HAL
profiler, beside the work and traffic of the linalg ops it runs, placed on this machine's
roofline (bench/machine.py).

- Time: `iree-benchmark-module --device_profiling_mode=host-execution` writes a `.ireeprof`
  bundle (IREE 3.13's HAL-native profiling; no Tracy build needed), and `iree-profile
  dispatch --format=jsonl` reduces it to each dispatch's count and mean time.
- Work: the same module compiled to `--compile-to=executable-sources`, the IR of every
  dispatch just before codegen, read with IREE's MLIR bindings. Each dispatch function's
  linalg ops are counted by analyze's own rules (analysis/analyze.py: FLOPs per op after
  generalization), and its traffic is what it loads from and stores to its bindings.
- The roofline: attainable = min(peak FLOP/s, intensity x bandwidth); a dispatch's
  efficiency is its achieved FLOP/s over that. A copy (no FLOPs) is judged by bandwidth.
The names match because both come from the same compile flags (the parameter encoder's
included) on the same input.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from frontend_mess.bench.machine import Peaks
from frontend_mess.support.errors import FrontendError, first_lines

PROFILE_CALLS = 20
_LOAD = "iree_tensor_ext.dispatch.tensor.load"
_STORE = "iree_tensor_ext.dispatch.tensor.store"


@dataclass
class Work:
    ops: list[str] = field(default_factory=list)  # named linalg ops, before generalization
    flops: int | None = 0
    bytes: int | None = 0


@dataclass
class Dispatch:
    name: str
    calls: float  # per inference
    mean_ms: float
    share: float  # of all dispatch time
    ops: list[str]
    flops: int | None
    bytes: int | None
    gflops: float | None  # achieved
    gbytes_per_s: float | None
    intensity: float | None
    roofline: float | None  # achieved / attainable

    def to_json(self) -> dict:
        return asdict(self)


def profile(
    module_files: list[str],
    function: str,
    inputs: list[str],
    threads: int,
    calls: int = PROFILE_CALLS,
) -> dict[str, tuple[int, float]]:
    """dispatch name -> (times it ran, mean nanoseconds), over `calls` calls of `function`."""
    from frontend_mess.bench.runtimes import benchmark_command, runtime_tool

    with tempfile.TemporaryDirectory(prefix="frontend-mess-profile-") as scratch:
        bundle = Path(scratch) / "profile.ireeprof"
        command = benchmark_command(
            module_files,
            function,
            inputs,
            threads,
            f"--benchmark_min_time={calls}x",
            "--device_profiling_mode=host-execution",
            f"--device_profiling_output={bundle}",
        )
        _run(command, "iree-benchmark-module (profiling)")
        reduce = [runtime_tool("iree-profile"), "dispatch", "--format=jsonl", str(bundle)]
        lines = _run(reduce, "iree-profile")
    found = {}
    for line in lines.splitlines():
        record = json.loads(line)
        if record.get("type") == "host_dispatch_group":
            found[record["key"]] = (int(record["valid"]), float(record["avg_ns"]))
    if not found:
        raise FrontendError("IREE's profiler recorded no dispatch: is the module empty?")
    return found


def _run(command: list[str], what: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise FrontendError(
            f"{what} failed (exit {done.returncode}): {first_lines(done.stderr, 2)}"
        )
    return done.stdout


def workload(executable_sources: str) -> dict[str, Work]:
    """dispatch function name -> its linalg ops' FLOPs and its bindings' traffic."""
    from iree.compiler import ir, passmanager

    from frontend_mess.analysis.analyze import _describe
    from frontend_mess.support.mlir_types import tensor_info

    context = ir.Context()
    module = ir.Module.parse(executable_sources, context)
    functions: list = []

    def find(op):
        if op.name == "func.func" and op.parent is not None and op.parent.name == "builtin.module":
            if op.parent.parent is not None and op.parent.parent.name == "hal.executable.variant":
                functions.append(op)
                return ir.WalkResult.SKIP
        return ir.WalkResult.ADVANCE

    module.operation.walk(find)
    for function in functions:

        def tag(op):
            if op.name.startswith("linalg.") and op.name not in ("linalg.yield", "linalg.index"):
                op.attributes["frontend_mess.named"] = ir.StringAttr.get(op.name, context)
            return ir.WalkResult.ADVANCE

        function.walk(tag)
    pipeline = (
        "builtin.module(hal.executable(hal.executable.variant(builtin.module("
        "func.func(linalg-generalize-named-ops)))))"
    )
    passmanager.PassManager.parse(pipeline, context).run(module.operation)
    found: dict[str, Work] = {}
    for function in functions:
        name = ir.StringAttr(function.attributes["sym_name"]).value
        work = found.setdefault(name, Work())

        def count(op, work=work):
            if op.name == "linalg.generic":
                kind = (
                    ir.StringAttr(op.attributes["frontend_mess.named"]).value
                    if "frontend_mess.named" in op.attributes
                    else "linalg.generic"
                )
                described = _describe(len(work.ops), kind, op, ir)
                work.ops.append(kind)
                work.flops = (
                    None
                    if work.flops is None or described.flops is None
                    else work.flops + described.flops
                )
            elif op.name in (_LOAD, _STORE):
                value = op.results[0] if op.name == _LOAD else op.operands[0]
                info = tensor_info(value.type, ir)
                size = info.storage_bytes if info is not None else None
                work.bytes = None if work.bytes is None or size is None else work.bytes + size
            return ir.WalkResult.ADVANCE

        function.walk(count)
    return found


def table(
    timings: dict[str, tuple[int, float]], work: dict[str, Work], peaks: Peaks, calls: int
) -> list[Dispatch]:
    """Every dispatch, the most time first."""
    total = sum(count * mean for count, mean in timings.values()) or 1.0
    rows = []
    for name, (count, mean_ns) in timings.items():
        w = work.get(name, Work(flops=None, bytes=None))
        seconds = mean_ns / 1e9
        gflops = w.flops / seconds / 1e9 if w.flops is not None and seconds else None
        gbs = w.bytes / seconds / 1e9 if w.bytes is not None and seconds else None
        intensity = w.flops / w.bytes if w.flops is not None and w.bytes else None
        roofline = None
        if gflops and intensity:
            roofline = gflops / peaks.attainable_gflops(intensity)
        elif w.flops == 0 and gbs is not None:  # a copy: judged by the bandwidth alone
            roofline = gbs / peaks.gbytes_per_s
        rows.append(
            Dispatch(
                name=name,
                calls=count / calls,
                mean_ms=mean_ns / 1e6,
                share=count * mean_ns / total,
                ops=[f"{k}×{n}" if n > 1 else k for k, n in Counter(w.ops).items()],
                flops=w.flops,
                bytes=w.bytes,
                gflops=gflops,
                gbytes_per_s=gbs,
                intensity=intensity,
                roofline=roofline,
            )
        )
    return sorted(rows, key=lambda r: -r.share)
