"""IREE on CPU with bare flags vs frontend-mess's default flags vs PyTorch eager, side by side.

    uv run python benchmarks/iree_cpu_flags.py [torchvision-model ...]

Each variant runs the same model on the same input in this one process; the ratios are
against PyTorch eager (lower is faster). Threads: whatever each runtime picks by default.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from frontend_mess import pipeline
from frontend_mess.backend.targets import target_spec


def best_ms(run, repeats: int = 10) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def main(names: list[str]) -> None:
    print(
        f"{'model':<20} {'eager ms':>9} {'bare ms':>9} {'fast ms':>9} {'bare/eager':>11} "
        f"{'fast/eager':>11}"
    )
    for name in names:
        loaded = pipeline.load(name)
        module, (x,) = loaded.torch.main.module, loaded.torch.main.example_args
        iree_input = pipeline.for_iree(loaded, "fx-torch")
        with torch.no_grad():
            eager = best_ms(lambda m=module, x=x: m(x))
        xs = x.numpy()
        timings = {}
        for label, fast in (("bare", False), ("fast", True)):
            artifact = pipeline.compile_input(iree_input, target_spec("llvm-cpu", fast=fast))
            loaded = artifact.module()
            timings[label] = best_ms(lambda m=loaded, x=xs: m.call(None, [x]))
            np.testing.assert_allclose(
                loaded.call(None, [xs])[0], module(x).detach().numpy(), rtol=1e-3, atol=1e-4
            )
        print(
            f"{name:<20} {eager:>9.1f} {timings['bare']:>9.1f} {timings['fast']:>9.1f} "
            f"{timings['bare'] / eager:>11.2f} {timings['fast'] / eager:>11.2f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet18", "mobilenet_v3_small"])
