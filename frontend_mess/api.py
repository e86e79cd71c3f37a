"""The Python entry point: `import_model`, a thin layer over the resolver and the importer,
as torch-mlir's `fx.export_and_import` is over its `FxImporter`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .defaults import DEFAULT_OUTPUT_KIND, OUTPUT_KINDS
from .errors import FrontendError
from .imported import ImportedModel
from .importers import torch as torch_importer
from .importers.torch import DynamicDim
from .progress import QUIET, Progress
from .shapes import InputSpec, parse_input_spec
from .sources import resolve


def check_kind(kind: str) -> str:
    if kind not in OUTPUT_KINDS:
        raise FrontendError(f"unknown output kind {kind!r}: use one of {', '.join(OUTPUT_KINDS)}")
    return kind


def import_model(
    source_or_module,
    example_args: Sequence | None = None,
    to: str = DEFAULT_OUTPUT_KIND,
    *,
    input_shapes: Sequence[str | InputSpec] | None = None,
    dynamic_dims: Sequence[int | str | DynamicDim] | None = None,
    weights: str | Path | None = None,
    func_name: str = "main",
    progress: Progress = QUIET,
) -> ImportedModel:
    """Import a model to MLIR of kind `to` (fx, raw, torch, linalg, tosa, stablehlo).

    `source_or_module` is anything `frontend-mess import` takes (a torchvision name, a
    `path/model.py[:NAME]`) or an `nn.Module`, which then needs `example_args` or
    `input_shapes`. `dynamic_dims` marks dimensions symbolic: `0` is dim 0 of every input,
    `"1:0"` dim 0 of input 1.
    """
    check_kind(to)
    specs = [s if isinstance(s, InputSpec) else parse_input_spec(s) for s in input_shapes or []]
    dynamic = [
        d if isinstance(d, DynamicDim) else DynamicDim.parse(str(d)) for d in dynamic_dims or []
    ]
    if isinstance(source_or_module, str):
        with progress.step(f"loading {source_or_module}"):
            source = resolve(source_or_module, input_specs=specs or None, weights=weights)
        name, module, args = source.name, source.module, source.example_args
        if example_args is not None:
            args = tuple(example_args)
    else:
        from .shapes import random_inputs

        module = source_or_module
        name = type(module).__name__
        if example_args is None and not specs:
            raise FrontendError(f"{name} needs example_args or input_shapes to be traced")
        args = tuple(example_args) if example_args is not None else random_inputs(specs)
        module.eval()
    program = torch_importer.export(module, args, dynamic=dynamic, name=name, progress=progress)
    mlir_module = None
    if to != "fx":
        mlir_module = torch_importer.to_mlir(
            program, to, name=name, func_name=func_name, progress=progress
        )
    return ImportedModel(
        source=name, kind=to, mlir_module=mlir_module, program=program, example_args=args
    )
