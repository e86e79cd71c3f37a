"""The Python entry point: `import_model`, a thin layer over the resolver and the importers,
as torch-mlir's `fx.export_and_import` is over its `FxImporter`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .defaults import DEFAULT_ONNX_IMPORTER, DEFAULT_OUTPUT_KIND, DEFAULT_SEQ_LEN, OUTPUT_KINDS
from .errors import FrontendError
from .imported import ImportedModel
from .importers import onnx as onnx_importer
from .importers import torch as torch_importer
from .importers.torch import DynamicDim
from .progress import QUIET, Progress
from .shapes import InputSpec, parse_input_spec, random_inputs
from .sources import Function, ModelSource, SourceOptions, is_onnx, resolve


def check_kind(kind: str) -> str:
    if kind not in OUTPUT_KINDS:
        raise FrontendError(f"unknown output kind {kind!r}: use one of {', '.join(OUTPUT_KINDS)}")
    return kind


def parse_specs(items: Sequence[str | InputSpec] | None) -> list[InputSpec]:
    return [s if isinstance(s, InputSpec) else parse_input_spec(s) for s in items or []]


def _from_module(module, example_args, specs: list[InputSpec], func_name: str) -> ModelSource:
    name = type(module).__name__
    if example_args is None and not specs:
        raise FrontendError(f"{name} needs example_args or input_shapes to be traced")
    args = tuple(example_args) if example_args is not None else random_inputs(specs)
    return ModelSource(name, {func_name: Function(module.eval(), args)})


def import_model(
    source_or_module,
    example_args: Sequence | None = None,
    to: str = DEFAULT_OUTPUT_KIND,
    *,
    input_shapes: Sequence[str | InputSpec] | None = None,
    dynamic_dims: Sequence[int | str | DynamicDim] | None = None,
    weights: str | Path | None = None,
    task: str | None = None,
    seq_len: int = DEFAULT_SEQ_LEN,
    attention: str | None = None,
    onnx_importer_name: str = DEFAULT_ONNX_IMPORTER,
    func_name: str = "main",
    progress: Progress = QUIET,
) -> ImportedModel:
    """Import a model to MLIR of kind `to` (fx, raw, torch, linalg, tosa, stablehlo).

    `source_or_module` is anything `frontend-mess import` takes (a torchvision name,
    `path/model.py[:NAME]`, `hf:DIR`, `hf-config:DIR_OR_FILE`, `path/model.onnx`) or an
    `nn.Module`, which then needs `example_args` or `input_shapes`. `dynamic_dims` marks
    dimensions symbolic: `0` is dim 0 of every input, `"1:0"` dim 0 of input 1.
    """
    options = SourceOptions(parse_specs(input_shapes), weights, task, seq_len, attention)
    if isinstance(source_or_module, str | Path):
        return import_source(
            str(source_or_module),
            to,
            options,
            dynamic_dims=dynamic_dims,
            onnx_importer_name=onnx_importer_name,
            func_name=func_name,
            example_args=example_args,
            progress=progress,
        )
    check_kind(to)
    source = _from_module(source_or_module, example_args, options.input_specs, func_name)
    return _trace_and_import(source, to, dynamic_dims, func_name, progress)


def import_source(
    source: str,
    to: str = DEFAULT_OUTPUT_KIND,
    options: SourceOptions | None = None,
    *,
    dynamic_dims: Sequence[int | str | DynamicDim] | None = None,
    onnx_importer_name: str = DEFAULT_ONNX_IMPORTER,
    func_name: str = "main",
    example_args: Sequence | None = None,
    progress: Progress = QUIET,
) -> ImportedModel:
    """`import_model` for a source string, with the source options as one `SourceOptions`
    (what the CLI parses): the one path every string source takes."""
    check_kind(to)
    options = options or SourceOptions()
    if is_onnx(source):
        return _import_onnx(source, to, options.input_specs, onnx_importer_name, progress)
    with progress.step(f"loading {source}"):
        resolved = resolve(source, options)
    if example_args is not None:
        resolved.main.example_args = tuple(example_args)
    return _trace_and_import(resolved, to, dynamic_dims, func_name, progress)


def _trace_and_import(
    source: ModelSource, to: str, dynamic_dims, func_name: str, progress: Progress
) -> ImportedModel:
    dynamic = [
        d if isinstance(d, DynamicDim) else DynamicDim.parse(str(d)) for d in dynamic_dims or []
    ]
    for choice, value in source.choices.items():
        progress.note(f"{choice}: {value}")
    programs, args = {}, {}
    for name, function in source.functions.items():
        label = source.name if len(source.functions) == 1 else f"{source.name} ({name})"
        programs[name] = torch_importer.export(
            function.module, function.example_args, dynamic=dynamic, name=label, progress=progress
        )
        args[name] = function.example_args
    if len(programs) == 1 and func_name != "main":
        programs = {func_name: next(iter(programs.values()))}
    mlir_module = None
    if to != "fx":
        mlir_module = torch_importer.to_mlir(programs, to, name=source.name, progress=progress)
    return ImportedModel(
        source=source.name,
        kind=to,
        mlir_module=mlir_module,
        programs=programs,
        example_args=args,
        choices=source.choices,
    )


def _import_onnx(path: str, to: str, specs, importer: str, progress: Progress) -> ImportedModel:
    with progress.step(f"loading {path}"):
        model = onnx_importer.load(path, specs, progress)
    module = onnx_importer.to_mlir(model, to, importer=importer, name=path, progress=progress)
    choices = {"onnx importer": importer, "opset": str(onnx_importer.default_opset(model))}
    return ImportedModel(source=path, kind=to, mlir_module=module, choices=choices)


def compile(  # noqa: A001  (the public name mirrors iree.compiler.compile_*)
    source: str,
    target: str = "llvm-cpu",
    *,
    via: str = "fx-torch",
    cpu: str = "host",
    cuda_arch: str = "sm_80",
    input_shapes: Sequence[str | InputSpec] | None = None,
    weights: str | Path | None = None,
    task: str | None = None,
    seq_len: int = DEFAULT_SEQ_LEN,
    attention: str | None = None,
    keep_diagnostics: str | Path | None = None,
    progress: Progress = QUIET,
):
    """Import `source` (anything `import_model` takes as a string, or a .mlir/.mlirbc file)
    and compile it with IREE; returns an `Artifact` to save, inspect and `.run()`."""
    from .lowering import compile_model
    from .targets import target_spec

    options = SourceOptions(parse_specs(input_shapes), weights, task, seq_len, attention)
    spec = target_spec(target, cpu=cpu, cuda_arch=cuda_arch)
    return compile_model(
        str(source),
        spec,
        via=via,
        options=options,
        keep_diagnostics=keep_diagnostics,
        progress=progress,
    )


def linalg_module(source: str, options: SourceOptions, progress: Progress = QUIET):
    """linalg-on-tensors as a torch_mlir `ir.Module`: imported from a source, or parsed from a
    `.mlir`/`.mlirbc` file (which must hold linalg already)."""
    if source.endswith((".mlir", ".mlirbc")):
        from torch_mlir import ir
        from torch_mlir.dialects import torch as torch_d

        from .errors import first_lines

        path = Path(source)
        if not path.is_file():
            raise FrontendError(f"MLIR file {path} does not exist")
        context = ir.Context()
        torch_d.register_dialect(context)
        try:
            return ir.Module.parse(path.read_bytes(), context)
        except Exception as exc:
            raise FrontendError(f"{path} is not valid MLIR: {first_lines(exc, 1)}") from None
    model = import_source(source, "linalg", options, progress=progress)
    return model.mlir_module
