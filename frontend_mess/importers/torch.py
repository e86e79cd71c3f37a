"""PyTorch `nn.Module` -> `torch.export` -> torch-mlir's FX importer -> MLIR.

The public entry is `import_module`; it is the one path every PyTorch-based source (a Python
file, torchvision, later Hugging Face) goes through, so a fix here fixes all of them.
Two upstream behaviours are handled here, each with a test in tests/unit/test_torch_importer.py
and a note in notes/torch-export.md:

- torch.export specializes a dimension whose example size is 1, so a dimension marked dynamic
  is traced with an example of size MIN_DYNAMIC_EXAMPLE_SIZE (the user is told).
- torch-mlir's frozen-program import reads buffers from `state_dict` only and so fails on
  non-persistent buffers ("Could not find state mapping for buffer", torch-mlir #4744); the
  program's non-persistent buffers are made visible to it before import.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..capture import VERBOSE_ENV, upstream_output
from ..defaults import MIN_DYNAMIC_EXAMPLE_SIZE, TORCH_MLIR_OUTPUT_TYPES
from ..errors import FrontendError, first_lines
from ..progress import QUIET, Progress


@dataclass(frozen=True)
class DynamicDim:
    """Dimension `dim` of input `arg`, or of every input when `arg` is None (a shared symbol,
    the usual meaning of "dynamic batch")."""

    dim: int
    arg: int | None = None

    @classmethod
    def parse(cls, text: str) -> DynamicDim:
        arg, sep, dim = text.strip().rpartition(":")
        try:
            return cls(dim=int(dim), arg=int(arg) if sep else None)
        except ValueError:
            raise FrontendError(
                f"malformed dynamic dimension {text!r}: expected DIM (every input) or "
                f"ARG:DIM, e.g. 0 or 1:0"
            ) from None

    def symbol(self) -> str:
        return f"dim{self.dim}" if self.arg is None else f"arg{self.arg}_dim{self.dim}"


def _dynamic_shapes(example_args: tuple, dynamic: list[DynamicDim], progress: Progress):
    """Build torch.export's `dynamic_shapes` and widen size-1 example dims that must vary."""
    import torch
    from torch.export import Dim

    if not dynamic:
        return example_args, None
    symbols: dict[str, Dim] = {}
    specs: list[dict | None] = [None] * len(example_args)
    args = list(example_args)
    for entry in dynamic:
        indices = range(len(args)) if entry.arg is None else [entry.arg]
        for index in indices:
            if index >= len(args) or not isinstance(args[index], torch.Tensor):
                raise FrontendError(
                    f"dynamic dimension {entry.arg}:{entry.dim} names input {index}, but the "
                    f"model takes {len(args)} tensor input(s)"
                )
            tensor = args[index]
            if entry.dim >= tensor.dim() or entry.dim < 0:
                raise FrontendError(
                    f"dynamic dimension {entry.dim} is out of range for input {index} of "
                    f"shape {tuple(tensor.shape)}"
                )
            if tensor.shape[entry.dim] < MIN_DYNAMIC_EXAMPLE_SIZE:
                repeats = [1] * tensor.dim()
                repeats[entry.dim] = MIN_DYNAMIC_EXAMPLE_SIZE
                args[index] = tensor.repeat(*repeats)
                progress.note(
                    f"input {index} dim {entry.dim} is dynamic: traced with size "
                    f"{MIN_DYNAMIC_EXAMPLE_SIZE} because torch.export fixes a size-1 dim"
                )
            symbol = symbols.setdefault(entry.symbol(), Dim(entry.symbol()))
            specs[index] = {**(specs[index] or {}), entry.dim: symbol}
    return tuple(args), tuple(specs)


def export(
    module,
    example_args: tuple,
    *,
    dynamic: list[DynamicDim] | None = None,
    name: str = "model",
    progress: Progress = QUIET,
):
    """Trace `module` with torch.export (non-strict, as torch-mlir does by default)."""
    import torch

    example_args, dynamic_shapes = _dynamic_shapes(example_args, dynamic or [], progress)
    with progress.step(f"torch.export {name}"), upstream_output():
        try:
            with torch.no_grad():
                return torch.export.export(
                    module, example_args, dynamic_shapes=dynamic_shapes, strict=False
                )
        except Exception as exc:
            raise FrontendError(
                f"torch.export could not trace {name}: {type(exc).__name__}: "
                f"{first_lines(exc, 2)} (rerun with {VERBOSE_ENV}=1 for torch's full output)"
            ) from None


def _expose_non_persistent_buffers(program) -> None:
    """Let torch-mlir's frozen import find non-persistent buffers (torch-mlir #4744).

    torch.export keeps them in `program.constants`, while `import_frozen_program` looks only in
    `state_dict`; adding them there changes nothing else about the program.
    """
    signature = program.graph_signature
    constants = getattr(program, "constants", {})
    for buffer in getattr(signature, "non_persistent_buffers", ()):
        if buffer not in program.state_dict and buffer in constants:
            program.state_dict[buffer] = constants[buffer]


def to_mlir(
    program, kind: str, *, name: str = "model", func_name: str = "main", progress: Progress = QUIET
):
    """Import an exported program and lower it to `kind`; returns a torch_mlir `ir.Module`."""
    from torch_mlir import fx
    from torch_mlir.compiler_utils import TorchMlirCompilerError
    from torch_mlir.extras.fx_decomp_util import get_decomposition_table

    from .literals import FastLiteralHooks

    output_type = TORCH_MLIR_OUTPUT_TYPES[kind]
    with progress.step(f"importing {name} to {kind}"), upstream_output():
        try:
            # Decompose here rather than inside export_and_import, so that the buffers can be
            # exposed after the decomposition's verifier ran (it rejects them in state_dict).
            program = program.run_decompositions(get_decomposition_table())
            _expose_non_persistent_buffers(program)
            return fx.export_and_import(
                program,
                output_type=output_type,
                func_name=func_name,
                decomposition_table={},
                hooks=FastLiteralHooks(),
            )
        except TorchMlirCompilerError as exc:
            raise FrontendError(
                f"torch-mlir could not lower {name} to {kind}: {_first_mlir_error(str(exc))}"
            ) from None
        except Exception as exc:
            raise FrontendError(
                f"torch-mlir could not import {name}: {type(exc).__name__}: {first_lines(exc, 1)}"
            ) from None


def _first_mlir_error(report: str) -> str:
    """The first `error:` diagnostic of a torch-mlir pipeline report, which names the op."""
    for line in report.splitlines():
        if "error:" in line:
            return line.strip()
    return first_lines(report, 2)
