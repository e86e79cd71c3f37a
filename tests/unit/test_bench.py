"""`frontend-mess bench`: taking turns, the roofline arithmetic, each dispatch's work read
from IREE's executable sources, and one whole run on a small model (slow)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from frontend_mess.bench import dispatches, timing
from frontend_mess.bench.machine import Peaks
from frontend_mess.bench.run import Row, _check
from frontend_mess.bench.runtimes import Prepared
from frontend_mess.cli import main


class FakeClock:
    """A clock that each call moves forward by the time its runtime takes."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_runtimes_take_turns_in_blocks_with_a_pause_after_each():
    clock, order, pauses = FakeClock(), [], []

    def runtime(name: str, seconds: float):
        def call():
            order.append(name)
            clock.now += seconds

        return call

    result = timing.take_turns(
        {"fast": runtime("fast", 0.01), "slow": runtime("slow", 0.1)},
        rounds=2,
        block_s=0.5,
        pause_s=0.2,
        clock=clock,
        sleep=pauses.append,
    )
    # each block: one warm-up, then as many calls as fill 0.5 s (fast: 50, slow: 5)
    fast_block, slow_block = 1 + 50, 1 + 5
    assert order == (["fast"] * fast_block + ["slow"] * slow_block) * 2
    assert pauses == [0.2] * 4
    assert result["fast"].median_ms == pytest.approx(10.0)
    assert result["slow"].median_ms == pytest.approx(100.0)
    assert len(result["fast"].calls_ms) == 100 and result["slow"].spread == pytest.approx(0.0)


def test_latency_statistics():
    latency = timing.Latency(block_medians_ms=[10.0, 12.0, 11.0], calls_ms=list(range(1, 11)))
    assert latency.median_ms == 11.0
    assert latency.spread == pytest.approx(2 / 11)
    assert latency.p90_ms == 10


@pytest.mark.parametrize(("seconds", "calls"), [(0.001, 500), (0.4, 3), (10.0, 3), (0.0, 1000)])
def test_block_size_fills_the_block_within_bounds(seconds, calls):
    assert timing.block_calls(seconds, block_s=0.5) == calls


def test_roofline_of_a_compute_bound_and_a_memory_bound_dispatch():
    peaks = Peaks(gflops=200.0, gbytes_per_s=20.0, threads=2)
    assert peaks.ridge == 10.0
    work = {
        "gemm": dispatches.Work(["linalg.matmul"], flops=10**9, bytes=10**7),  # 100 FLOP/B
        "scale": dispatches.Work(["linalg.generic"], flops=10**6, bytes=10**7),  # 0.1 FLOP/B
        "copy": dispatches.Work(["linalg.generic"], flops=0, bytes=10**7),
    }
    timings = {"gemm": (2, 10e6), "scale": (2, 1e6), "copy": (2, 2e6)}  # (count, mean ns)
    rows = {r.name: r for r in dispatches.table(timings, work, peaks, calls=2)}
    assert rows["gemm"].gflops == pytest.approx(100.0)
    assert rows["gemm"].roofline == pytest.approx(0.5)  # 100 of the 200 it could reach
    assert rows["scale"].roofline == pytest.approx(1.0 / 2.0)  # 1 GFLOP/s of 0.1 x 20
    assert rows["copy"].roofline == pytest.approx(0.25)  # 5 GB/s of 20
    assert rows["gemm"].calls == 1.0
    assert sum(r.share for r in rows.values()) == pytest.approx(1.0)
    assert [r.name for r in dispatches.table(timings, work, peaks, 2)][0] == "gemm"


def test_dispatch_work_is_read_from_the_executable_sources():
    """A matmul with a bias add compiles to dispatches whose FLOPs are 2·M·N·K plus the adds,
    and whose traffic is what they load and store, read from IREE's own IR."""
    from frontend_mess.backend.compiler import executable_sources
    from frontend_mess.backend.targets import target_spec

    m, k, n = 8, 64, 32
    mlir = f"""#id = affine_map<(i, j) -> (i, j)>
func.func @main(%a: tensor<{m}x{k}xf32>, %b: tensor<{k}x{n}xf32>,
                               %c: tensor<{m}x{n}xf32>) -> tensor<{m}x{n}xf32> {{
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<{m}x{n}xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<{m}x{n}xf32>) -> tensor<{m}x{n}xf32>
  %p = linalg.matmul ins(%a, %b : tensor<{m}x{k}xf32>, tensor<{k}x{n}xf32>)
                     outs(%init : tensor<{m}x{n}xf32>) -> tensor<{m}x{n}xf32>
  %s = linalg.generic {{indexing_maps = [#id, #id, #id],
                        iterator_types = ["parallel", "parallel"]}}
      ins(%p, %c : tensor<{m}x{n}xf32>, tensor<{m}x{n}xf32>) outs(%empty : tensor<{m}x{n}xf32>) {{
    ^bb0(%x: f32, %y: f32, %out: f32):
      %sum = arith.addf %x, %y : f32
      linalg.yield %sum : f32
  }} -> tensor<{m}x{n}xf32>
  return %s : tensor<{m}x{n}xf32>
}}"""
    spec = target_spec("llvm-cpu", cpu="generic", extra_flags=("--iree-opt-data-tiling=false",))
    work = dispatches.workload(executable_sources(mlir, spec, input_type="none"))
    assert len(work) == 1, work  # the add fuses into the matmul's dispatch
    ((name, only),) = work.items()
    assert "matmul" in name  # IREE's name for it; at this phase its ops are generics
    assert only.ops.count("linalg.generic") == 2
    assert only.flops == 2 * m * n * k + m * n
    assert only.bytes == 4 * (m * k + k * n + m * n + m * n)


def test_wrong_numbers_fail_the_numerics_check():
    reference = [np.ones((2, 3), dtype=np.float32)]
    good, bad = Row("good"), Row("bad")
    _check(Prepared("good", lambda: [np.ones((2, 3), dtype=np.float32)]), reference, good)
    _check(Prepared("bad", lambda: [np.full((2, 3), 1.1, dtype=np.float32)]), reference, bad)
    assert good.numerics_ok and good.error_ratio == 0.0
    assert bad.numerics_ok is False and bad.error_ratio > 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--runtimes", "iree,tvm"], "unknown runtime tvm"),
        (["--target", "cuda"], "bench times runtimes on this machine's CPU"),
        (["--batch", "2", "--input-shape", "1x4"], "give --batch or --input-shape"),
    ],
)
def test_bench_refuses_what_it_cannot_do(capsys, inputs_dir, argv, message):
    code = main(["bench", str(inputs_dir / "mlp.py"), "-q", *argv])
    assert code != 0
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_bench_a_small_model_end_to_end(capsys, inputs_dir, tmp_path):
    """Every runtime but inductor (minutes of C++ compile) on the MLP: timed, checked against
    eager, cold-started in a fresh process, profiled per dispatch; JSON and a page."""
    page = tmp_path / "bench.html"
    code = main(
        [
            "bench",
            str(inputs_dir / "mlp.py"),
            "--runtimes",
            "iree,onnxruntime",
            "--rounds",
            "2",
            "--cold-runs",
            "1",
            "--dispatches",
            "--batch",
            "4",
            "--json",
            "--html",
            str(page),
            "-q",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    rows = {r["runtime"]: r for r in data["rows"]}
    assert set(rows) == {"eager", "iree", "onnxruntime"}  # the reference is always run
    assert data["batch"] == 4
    for name, row in rows.items():
        assert row["error"] is None, (name, row["error"])
        assert row["numerics_ok"] is True
        assert row["median_ms"] > 0 and row["throughput"] == pytest.approx(4000 / row["median_ms"])
    for name in ("iree", "onnxruntime"):
        assert rows[name]["cold_ms"] > 0 and rows[name]["artifact_bytes"] > 0
    assert data["iree_benchmark_ms"] > 0
    assert data["ratios"]["iree/onnxruntime"] == pytest.approx(
        rows["iree"]["median_ms"] / rows["onnxruntime"]["median_ms"]
    )
    assert data["dispatches"] and sum(d["share"] for d in data["dispatches"]) == pytest.approx(1)
    # every profiled dispatch was found in the executable sources (same flags, same names)
    assert all(d["flops"] is not None and d["bytes"] for d in data["dispatches"])
    assert any(d["flops"] for d in data["dispatches"])
    assert data["machine"]["gflops"] > 0
    html = page.read_text()
    assert 'data-runtime="iree"' in html and "matmul" in html


@pytest.fixture(scope="module")
def small_vmfb(tmp_path_factory):
    from hostile_corpus import matmul_mlir

    from frontend_mess.backend.compiler import compile_text
    from frontend_mess.backend.targets import target_spec

    directory = tmp_path_factory.mktemp("small")
    artifact = compile_text(matmul_mlir(8, 16, 4), target_spec("llvm-cpu", cpu="generic"))
    rng = np.random.default_rng(0)
    for name, shape in (("a.npy", (8, 16)), ("b.npy", (16, 4))):
        np.save(directory / name, rng.standard_normal(shape, dtype=np.float32))
    return artifact.save(directory / "m.vmfb")


def test_loading_a_module_reads_no_package_metadata(small_vmfb, monkeypatch):
    """A cold start does not pay for reading eleven packages' metadata (15 ms here:
    notes/store.md); an artifact reads its compiler's versions only when asked."""
    from frontend_mess.backend.artifact import Artifact
    from frontend_mess.support import versions

    def refuse():
        raise AssertionError("package metadata read while loading")

    monkeypatch.setattr(versions, "_tool_versions", refuse)
    a, b = (np.load(small_vmfb.with_name(n)) for n in ("a.npy", "b.npy"))
    (got,) = Artifact.load(small_vmfb).run(a, b)
    np.testing.assert_allclose(got, a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_a_cold_starts_peak_memory_is_its_own_not_its_parents(small_vmfb):
    """A child started by fork and exec inherits its parent's maxrss; the cold-start child
    resets it, so a 400 MB parent does not make a tiny module's peak 400 MB."""
    from frontend_mess.bench.run import cold_starts

    parent = np.ones(100 * 2**20, dtype=np.float32)  # 400 MB, touched
    inputs = [str(small_vmfb.with_name(n)) for n in ("a.npy", "b.npy")]
    found = cold_starts("iree", [str(small_vmfb)], inputs, threads=1, runs=1)
    assert parent.sum() > 0
    assert 0 <= found["peak_mb"] < 100
    assert found["cold_ms"] > 0


def test_a_cold_start_imports_nothing_inside_its_clock(small_vmfb):
    """Imports are start-up, not cold start: bench/cold.py's `measure` imports what its
    loaders need before the clock. Where nothing writes `.pyc` files (PYTHONDONTWRITEBYTECODE,
    as here), runtime.py and params.py were compiled inside the clock, 4-5 ms of resnet18's
    cold start (notes/store.md). A fresh process runs `measure` with the loader wrapped to
    see what the timed part (load, first call) imports."""
    inputs = [str(small_vmfb.with_name(n)) for n in ("a.npy", "b.npy")]
    code = f"""
import sys
from frontend_mess.bench import cold
inner, seen = cold.LOADERS["iree"], {{}}
def loader(files, arrays, threads):
    seen["before"] = set(sys.modules)
    call = inner(files, arrays, threads)
    call()
    seen["after"] = set(sys.modules)
    return call
cold.LOADERS["iree"] = loader
cold.measure("iree", [{str(small_vmfb)!r}], {inputs!r}, 1, warm=1)
print(sorted(seen["after"] - seen["before"]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
