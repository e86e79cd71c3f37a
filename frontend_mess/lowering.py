"""Source or MLIR file -> IREE artifact, by one of several import paths (`via`), so that paths
can be compared on the same model:

- `fx-torch` (default): torch.export -> IREE's bundled FX importer -> torch dialect ->
  `iree-compile --iree-input-type=torch`. Version-matched: IREE pins its own torch-mlir, and its
  maintainers call the torch input the stable entry (iree PR #15037).
- `fx-linalg`, `fx-tosa`, `fx-stablehlo`: torch.export -> standalone torch-mlir -> that dialect
  -> iree-compile. torch-mlir's MLIR is newer than IREE 3.13's, and some ops' custom syntax
  changed (TOSA's `tosa.const_shape` is rejected), so the module is handed over in generic op
  form (`"tosa.const_shape"() <{values = ...}>`), which both parse alike (notes/iree.md).
- `turbine`: iree-turbine's `aot.export` (strict torch.export) -> iree-compile.
- `onnx`: torch.onnx.export -> torch-mlir's ONNX importer -> `--iree-input-type=onnx`.
- `onnx-iree`: the same with IREE's bundled ONNX importer (`iree-import-onnx`'s).
ONNX files always take the ONNX path; `.mlir`/`.mlirbc` files are compiled as they are.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from .artifact import Artifact
from .compiler import compile_text
from .errors import FrontendError, first_lines
from .progress import QUIET, Progress
from .sources import ModelSource, SourceOptions, is_onnx, resolve
from .targets import TargetSpec

VIAS = ("fx-torch", "fx-linalg", "fx-tosa", "fx-stablehlo", "turbine", "onnx", "onnx-iree")
#: the paths through ONNX, and the ONNX importer each takes (the only paths for ONNX sources).
ONNX_VIAS = {"onnx": "torch-mlir", "onnx-iree": "iree"}
# --via fx-KIND: torch-mlir's output of that kind, handed to IREE in generic op form.
_TORCH_MLIR_VIAS = {"fx-linalg": "linalg", "fx-tosa": "tosa", "fx-stablehlo": "stablehlo"}
DEFAULT_VIA = "fx-torch"
MLIR_SUFFIXES = (".mlir", ".mlirbc")


def is_mlir_file(source: str) -> bool:
    return source.endswith(MLIR_SUFFIXES)


def generic_form(module) -> str:
    """A module's text in generic op form: what IREE's older MLIR parses alike."""
    return module.operation.get_asm(print_generic_op_form=True)


def read_mlir(path: str | Path) -> str:
    """Text of an MLIR file for IREE. The file is parsed with torch-mlir's MLIR (which writes
    what frontend-mess imports) and re-printed in generic op form: IREE's reader refuses
    bytecode from a newer producer (iree #12762) and some newer custom syntax. A text file
    torch-mlir cannot parse goes to IREE unchanged, which then reports the error."""
    path = Path(path)
    if not path.is_file():
        raise FrontendError(f"MLIR file {path} does not exist")
    from torch_mlir import ir
    from torch_mlir.dialects import torch as torch_d

    context = ir.Context()
    torch_d.register_dialect(context)
    context.allow_unregistered_dialects = True
    content = path.read_bytes()
    try:
        return generic_form(ir.Module.parse(content, context))
    except Exception as exc:
        if path.suffix == ".mlir":
            return content.decode(errors="replace")
        raise FrontendError(
            f"{path} is not readable MLIR bytecode: {first_lines(exc, 1)}"
        ) from None


def _bytecode(module) -> bytes:
    buffer = io.BytesIO()
    module.operation.write_bytecode(buffer)
    return buffer.getvalue()


def export_programs(source: ModelSource, progress: Progress) -> dict:
    from .importers import torch as torch_importer

    return {
        name: torch_importer.export(f.module, f.example_args, name=source.name, progress=progress)
        for name, f in source.functions.items()
    }


def lower_source(source: ModelSource, via: str, progress: Progress) -> tuple[str | bytes, str]:
    """(MLIR for iree-compile, its input type) for a resolved torch source."""
    from .importers import torch as torch_importer

    if via == "fx-torch":
        programs = export_programs(source, progress)
        module = torch_importer.to_iree_torch(programs, name=source.name, progress=progress)
        return _bytecode(module), "torch"
    if via in _TORCH_MLIR_VIAS:
        kind = _TORCH_MLIR_VIAS[via]
        programs = export_programs(source, progress)
        module = torch_importer.to_mlir(programs, kind, name=source.name, progress=progress)
        return generic_form(module), "none" if kind == "linalg" else kind
    if via == "turbine":
        return _turbine(source, progress), "torch"
    if via in ONNX_VIAS:
        return _through_onnx(source, progress, via), "onnx"
    raise FrontendError(f"unknown path {via!r}: use one of {', '.join(VIAS)}")


def _single(source: ModelSource, via: str):
    if len(source.functions) != 1:
        raise FrontendError(
            f"--via {via} takes one function; {source.name} has {', '.join(source.functions)}: "
            f"use --via fx-torch"
        )
    return source.main


def _turbine(source: ModelSource, progress: Progress) -> bytes:
    import iree.turbine.aot as aot

    function = _single(source, "turbine")
    with progress.step(f"iree-turbine aot.export {source.name}"):
        try:
            exported = aot.export(function.module, args=function.example_args)
        except Exception as exc:
            raise FrontendError(
                f"iree-turbine could not export {source.name}: {type(exc).__name__}: "
                f"{first_lines(exc, 1)}"
            ) from None
    return _bytecode(exported.mlir_module)


def _through_onnx(source: ModelSource, progress: Progress, via: str) -> str:
    import torch

    from .importers import onnx as onnx_importer

    function = _single(source, via)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.onnx"
        with progress.step(f"torch.onnx.export {source.name}"):
            try:
                torch.onnx.export(function.module, function.example_args, str(path), dynamo=False)
            except Exception as exc:
                raise FrontendError(
                    f"torch.onnx.export failed on {source.name}: {first_lines(exc, 1)}"
                ) from None
        importer = ONNX_VIAS[via]
        _, mlir = onnx_importer.load_raw(
            path, progress=progress, name=source.name, importer=importer
        )
        return mlir


def compile_model(
    source: str,
    spec: TargetSpec,
    *,
    via: str = DEFAULT_VIA,
    options: SourceOptions | None = None,
    keep_diagnostics: str | Path | None = None,
    progress: Progress = QUIET,
) -> Artifact:
    """Import (unless `source` is already MLIR) and compile for `spec`."""
    options = options or SourceOptions()
    if is_mlir_file(source):
        mlir, input_type = read_mlir(source), None
    elif is_onnx(source):
        from .importers import onnx as onnx_importer

        mlir = onnx_importer.load_raw(source, options.input_specs, progress)[1]
        input_type = "onnx"
    else:
        with progress.step(f"loading {source}"):
            resolved = resolve(source, options)
        mlir, input_type = lower_source(resolved, via, progress)
    return compile_text(
        mlir,
        spec,
        input_type=input_type,
        name=source,
        keep_diagnostics=keep_diagnostics,
        progress=progress,
    )
