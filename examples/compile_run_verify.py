"""Compile an in-memory `nn.Module` with IREE, run it, and check it against PyTorch three ways.

1. By hand: `import_model(m, (x,)).compile().run(x)` on a fresh random input, compared with
   `m(x)` by `numpy.allclose` (rtol 1e-3, atol 1e-4: float32 on CPU, a different op order).
2. `frontend_mess.verify(m, (x,))`: the same comparison on seeded random inputs, as a report.
3. `frontend_mess.verify(m, (x,), dynamic_dims=[0])`: dim 0 (the batch) made dynamic, so one
   compiled module is checked at two batch sizes.

    uv run python examples/compile_run_verify.py
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from torch import nn

import frontend_mess

RTOL, ATOL = 1e-3, 1e-4


class SmallNet(nn.Module):
    """Convolution, batch norm, SiLU, global average pooling, a linear head and softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.silu(self.norm(self.conv(x)))
        return torch.softmax(self.head(x.mean(dim=(2, 3))), dim=-1)


def main() -> None:
    torch.manual_seed(0)
    module = SmallNet().eval()
    example = torch.randn(2, 3, 16, 16)

    # 1. import (linalg by default), compile for llvm-cpu, run: NumPy arrays out.
    artifact = frontend_mess.import_model(module, (example,)).compile()
    print(artifact)
    x = torch.randn(2, 3, 16, 16)  # a fresh input, not the one traced
    (got,) = artifact.run(x)
    with torch.no_grad():
        want = module(x).numpy()
    error = float(np.abs(got - want).max())
    print(f"by hand: max abs error {error:.3g} (rtol {RTOL}, atol {ATOL})")
    if not np.allclose(got, want, rtol=RTOL, atol=ATOL):
        sys.exit(f"FAIL: IREE's output differs from PyTorch's by up to {error:.3g}")

    # 2. verify: compile (default path, fx-torch), run both, compare every output.
    report = frontend_mess.verify(module, (example,))
    print(report.text(), end="")

    # 3. a dynamic batch: checked at the traced batch size and one more.
    dynamic = frontend_mess.verify(module, (example,), dynamic_dims=[0])
    print(dynamic.text(), end="")
    if not (report.ok and dynamic.ok):
        sys.exit("FAIL: verify found a mismatch")
    print("OK: IREE matches PyTorch at a fixed and at a dynamic batch size")


if __name__ == "__main__":
    main()
