"""This machine's attainable peaks, measured: float32 matrix multiply FLOP/s and memory
bandwidth, with `threads` threads, so "near the limit" is a number (the roofline the
dispatches are placed against, bench/dispatches.py).

- FLOP/s: float32 matrix products, 2·n³ FLOP each, best of a few runs: PyTorch's GEMM at a
  few sizes (it varies by size: 90-185 GFLOP/s here) and IREE's own (data-tiled, ukernels,
  packing both operands included), whichever is faster. Single dispatches of a model can
  still beat it by a little (a matmul whose weights were packed at compile time): the peak is the
  best these products reach, not the datasheet's.
- Bandwidth: copying an array far larger than the last-level cache, best of a few: the bytes
  read plus the bytes written per second (STREAM's "copy"); write-allocate traffic is not
  counted, as STREAM does not count it.
Measured, not the datasheet's: what code on this machine can reach.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

GEMM_SIZES = (512, 2048, 3072)
IREE_GEMM_N = 1536
COPY_BYTES = 256 * 2**20
REPEATS = 5


@dataclass
class Peaks:
    gflops: float
    gbytes_per_s: float
    threads: int
    #: each GEMM's figure: `torch n=2048`, `iree n=1536` -> GFLOP/s
    gemms: dict[str, float] = field(default_factory=dict)

    @property
    def ridge(self) -> float:
        """FLOP per byte where the roofline's slope meets its flat top."""
        return self.gflops / self.gbytes_per_s

    def attainable_gflops(self, intensity: float) -> float:
        return min(self.gflops, intensity * self.gbytes_per_s)

    def to_json(self) -> dict:
        return {**asdict(self), "ridge_flop_per_byte": self.ridge}


def _best(run, repeats: int = REPEATS) -> float:
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def _iree_gemm(n: int) -> float:
    """Seconds for one n x n x n float32 matmul compiled by IREE with frontend-mess's flags."""
    import numpy as np

    from frontend_mess.backend.compiler import compile_text
    from frontend_mess.backend.targets import target_spec

    t = f"tensor<{n}x{n}xf32>"
    mlir = f"""func.func @main(%a: {t}, %b: {t}) -> {t} {{
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : {t}
  %init = linalg.fill ins(%zero : f32) outs(%empty : {t}) -> {t}
  %c = linalg.matmul ins(%a, %b : {t}, {t}) outs(%init : {t}) -> {t}
  return %c : {t}
}}"""
    module = compile_text(mlir, target_spec("llvm-cpu"), input_type="none").module()
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    return _best(lambda: module.call(None, [a, b]))


def measure(threads: int, *, with_iree: bool = True) -> Peaks:
    """The peaks with `threads` threads. IREE's pool size must already be set (it is read
    once, when its first device is made: bench/runtimes.py set_iree_threads)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    gemms: dict[str, float] = {}
    try:
        for n in GEMM_SIZES:
            a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
            gemms[f"torch n={n}"] = (
                2 * n**3 / _best(lambda a=a, b=b, o=out: torch.mm(a, b, out=o)) / 1e9
            )
        src = torch.ones(COPY_BYTES // 4)
        dst = torch.empty_like(src)
        copy_s = _best(lambda: dst.copy_(src))
    finally:
        torch.set_num_threads(previous)
    if with_iree:
        gemms[f"iree n={IREE_GEMM_N}"] = 2 * IREE_GEMM_N**3 / _iree_gemm(IREE_GEMM_N) / 1e9
    return Peaks(
        gflops=max(gemms.values()),
        gbytes_per_s=2 * COPY_BYTES / copy_s / 1e9,
        threads=threads,
        gemms=gemms,
    )
