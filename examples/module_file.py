"""Import an `nn.Module` defined in a Python file, the `path/model.py:NAME` source.

NAME is a module class (built with no arguments), a factory function or a module instance; the
file's `example_inputs()` gives the example inputs, or `input_shapes` does. With no argument
this writes a tiny model file to a temp dir and imports it twice: with the file's own example
inputs, and with a given shape and a dynamic batch (`?` in the signature). The check: the
linalg module compiles with IREE and matches PyTorch (`verify`).

    uv run python examples/module_file.py
    uv run python examples/module_file.py examples/nnmodule.py:TinyConvNet
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
from pathlib import Path

import frontend_mess

MODEL_FILE = textwrap.dedent(
    '''
    """A model file as a user writes one: a module class and its example inputs."""

    import torch
    from torch import nn


    class TinyMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.layers(x), dim=-1)


    def example_inputs() -> tuple[torch.Tensor]:
        return (torch.randn(2, 16),)
    '''
)


def signature(model: frontend_mess.ImportedModel) -> str:
    """The `func.func @main(...) -> ...` line of the module."""
    line = next(line for line in model.text.splitlines() if "func.func" in line)
    return line.strip().removesuffix(" {")


def check(source: str, **options) -> bool:
    """Import `source` to linalg, print its signature and size, and verify it with IREE."""
    model = frontend_mess.import_model(source, to="linalg", **options)
    given = "".join(f" {key}={value}" for key, value in options.items())
    print(f"{source}{given}\n  {signature(model)}  ({sum(model.stats().values())} ops)")
    report = model.verify()
    print(textwrap.indent(report.text(), "  "), end="")
    return report.ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", help="path/model.py[:NAME] (default: a tiny MLP)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        if args.source:
            ok = check(args.source)
        else:
            path = Path(scratch) / "tiny_model.py"
            path.write_text(MODEL_FILE)
            source = f"{path}:TinyMLP"
            ok = check(source)  # example inputs from the file's example_inputs(): 2x16
            # An explicit shape replaces example_inputs(); dim 0 of every input made dynamic.
            ok = check(source, input_shapes=["3x16"], dynamic_dims=[0]) and ok
    if not ok:
        sys.exit("FAIL: IREE's result differs from PyTorch's")
    print("OK: every import matches PyTorch")


if __name__ == "__main__":
    main()
