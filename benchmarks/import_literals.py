"""Weight import with torch-mlir's default literal path vs frontend-mess's hook, side by side.

    uv run python benchmarks/import_literals.py [torchvision-model ...]

Both run on the same exported program in the same process; the ratio is default / hook.
"""

from __future__ import annotations

import sys
import time

import torch
from torch_mlir import fx

from frontend_mess.importers.literals import torch_mlir_hooks
from frontend_mess.importers.torchvision_models import build, default_input_spec
from frontend_mess.shapes import random_inputs


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(names: list[str]) -> None:
    print(f"{'model':<20} {'default s':>10} {'hook s':>8} {'ratio':>6}")
    for name in names:
        model = build(name)
        args = random_inputs([default_input_spec(name)])
        program = torch.export.export(model, args, strict=False)
        default = best_of(2, lambda p=program: fx.export_and_import(p, output_type="raw"))
        hook = best_of(
            2,
            lambda p=program: fx.export_and_import(p, output_type="raw", hooks=torch_mlir_hooks()),
        )
        print(f"{name:<20} {default:>10.2f} {hook:>8.2f} {default / hook:>6.1f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet18", "mobilenet_v2"])
