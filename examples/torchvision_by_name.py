"""Import a torchvision model by name to linalg-on-tensors, print its op histogram, save it.

A bare torchvision name (`squeezenet1_1`, or `torchvision:squeezenet1_1`) builds the model with
random weights; `input_shapes` picks the example input (a small image keeps this fast). The
check: the module is fully lowered (linalg ops present, no `torch.*` op left).

    uv run python examples/torchvision_by_name.py
    uv run python examples/torchvision_by_name.py --model mobilenet_v3_small -o mnv3.mlir
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import frontend_mess

TOP_LINES = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="squeezenet1_1", help="a torchvision model name")
    parser.add_argument("--input-shape", default="1x3x64x64", help="NxCxHxW of the example")
    parser.add_argument(
        "-o", "--output", type=Path, help="where to write the MLIR (default: a temp dir)"
    )
    args = parser.parse_args()

    model = frontend_mess.import_model(
        f"torchvision:{args.model}", to="linalg", input_shapes=[args.input_shape]
    )
    signature = next(line.strip() for line in model.text.splitlines() if "func.func" in line)
    print(f"{args.model} as linalg: {sum(model.stats().values())} ops")
    print(signature.removesuffix(" {"))
    print(f"top {TOP_LINES} ops:")
    print("".join(model.format_stats().splitlines(keepends=True)[:TOP_LINES]), end="")

    with tempfile.TemporaryDirectory() as scratch:
        path = model.save(args.output or Path(scratch) / f"{args.model}.linalg.mlir")
        print(f"saved {path.stat().st_size:,} bytes to {path}")

    ops = model.stats()
    leftover = sorted(op for op in ops if op.startswith("torch."))
    if leftover or not any(op.startswith("linalg.") for op in ops):
        sys.exit(f"FAIL: not lowered to linalg (torch ops left: {', '.join(leftover) or 'none'})")
    print("OK: fully lowered to linalg")


if __name__ == "__main__":
    main()
