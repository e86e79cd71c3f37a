"""The one pipeline behind every command, the Python API, the matrix and the ONNX Backend:

    load -> export -> import -> lower -> compile -> assemble (cuda) -> run -> compare

- `load(source, options)` -> `Loaded`: torch functions to trace (a torchvision name, a model
  file, `hf:`/`hf-config:`, or an `nn.Module`), a prepared ONNX model (a file or a
  ModelProto), or an MLIR file as it is.
- `export(loaded)` -> the exported programs (torch sources; kept on `loaded`, done once).
- `to_kind(loaded, kind)` -> `ImportedModel`: MLIR of one output kind (`import`, `analyze`).
- `for_iree(loaded, via)` -> `IreeInput`: what iree-compile takes, by one of the `--via` paths.
- `compile_input(iree_input, spec)` -> `Artifact`.
- `assemble(artifact, spec)` -> `Assembly`: cuda only, ptxas on the module's PTX for the real
  GPU, the check that the driver would load it (backend/ptx.py).
- `verify_artifact(loaded, artifact)` -> `VerifyReport`: run both sides and compare
  (verify.py).

Each failure is a `StageError` subclass that names its stage (support/errors.py), raised from
its cause. The `--via` paths:

- `fx-torch` (default): torch.export -> IREE's bundled FX importer -> torch dialect ->
  `iree-compile --iree-input-type=torch`. Version-matched: IREE pins its own torch-mlir, and its
  maintainers call the torch input the stable entry (iree PR #15037).
- `fx-linalg`, `fx-tosa`, `fx-stablehlo`: torch.export -> standalone torch-mlir -> that dialect
  -> iree-compile. torch-mlir's MLIR is newer than IREE 3.13's, and some ops' custom syntax
  changed (TOSA's `tosa.const_shape` is rejected), so the module is handed over in generic op
  form, which both parse alike (notes/iree.md).
- `turbine`: iree-turbine's `aot.export` (strict torch.export) -> iree-compile.
- `onnx`, `onnx-iree`: torch.onnx.export (dynamo by default, `--onnx-exporter torchscript`)
  -> torch-mlir's or IREE's ONNX importer -> `--iree-input-type=onnx`. ONNX files take these
  paths only (`--via` or `--onnx-importer` picks the importer).
"""

from __future__ import annotations

import copy
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from frontend_mess.backend.artifact import Artifact
from frontend_mess.backend.compiler import compile_text
from frontend_mess.backend.signature import name_arguments
from frontend_mess.backend.targets import TargetSpec
from frontend_mess.defaults import (
    DEFAULT_MODEL_DTYPE,
    DEFAULT_VIA,
    ONNX_EXPORTERS,
    ONNX_VIAS,
    OUTPUT_KINDS,
    VIAS,
)
from frontend_mess.imported import ImportedModel
from frontend_mess.importers import fx, onnx_dtype, onnx_graph
from frontend_mess.shapes import random_inputs
from frontend_mess.sources import (
    Function,
    ModelSource,
    SourceOptions,
    cast_inputs,
    in_dtype,
    is_onnx,
    resolve,
)
from frontend_mess.support.capture import upstream_output
from frontend_mess.support.errors import ExportError, FrontendError, first_lines
from frontend_mess.support.mlir_types import walk
from frontend_mess.support.paths import input_file
from frontend_mess.support.progress import QUIET, Progress

__all__ = ["DEFAULT_VIA", "ONNX_VIAS", "VIAS", "IreeInput", "Loaded", "load"]

MLIR_SUFFIXES = (".mlir", ".mlirbc")
# --via fx-KIND: torch-mlir's output of that kind, handed to IREE in generic op form.
_TORCH_MLIR_VIAS = {"fx-linalg": "linalg", "fx-tosa": "tosa", "fx-stablehlo": "stablehlo"}
# An imported module of this kind compiles with this IREE input type.
#: torch-mlir's linalg-on-tensors output is linalg plus its own `tm_tensor` ops (a cumulative
#: sum is `tm_tensor.scan`): IREE's `tm_tensor` input type converts those to LinalgExt and leaves
#: plain linalg alone, where `none` rejects them ("failed to legalize 'tm_tensor.scan'": BLOOM,
#: OPT, RoBERTa on fx-linalg). Test: test_pipeline.py::test_cumsum_verifies_on_fx_linalg.
_INPUT_TYPE_OF_KIND = {"linalg": "tm_tensor", "tosa": "tosa", "stablehlo": "stablehlo"}


def is_mlir_file(source: str) -> bool:
    return source.endswith(MLIR_SUFFIXES)


@dataclass
class Loaded:
    """A source after the load stage: exactly one of `torch`, `onnx`, `mlir_path` is set."""

    name: str
    options: SourceOptions
    torch: ModelSource | None = None
    onnx: object | None = None  # the prepared onnx.ModelProto
    mlir_path: str | None = None
    #: choices made for the user (task, attention, export mode, importer), reported on stderr.
    choices: dict = field(default_factory=dict)
    #: function name -> exported program, once `export` ran.
    programs: dict | None = field(default=None, repr=False)
    _prepared: dict | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return "torch" if self.torch else "onnx" if self.onnx is not None else "mlir"

    def prepared(self, progress: Progress = QUIET) -> dict:
        """The exported programs as the FX importers take them (fx.prepare), made once."""
        if self._prepared is None:
            with progress.step(f"decomposing {self.name}"):  # fx.prepare captures torch
                self._prepared = {
                    name: fx.prepare(p, self.name, progress)
                    for name, p in (self.programs or {}).items()
                }
        return self._prepared

    def input_names(self) -> dict[str, list[str]]:
        """Function name -> one name per input, where the source has them (an ONNX graph's
        inputs, a forward's parameters, a Hugging Face model's input_ids, pixel_values ...):
        what signature.name_arguments writes on the MLIR function's arguments."""
        if self.kind == "onnx":
            initializers = {i.name for i in self.onnx.graph.initializer}
            return {
                self.name: [i.name for i in self.onnx.graph.input if i.name not in initializers]
            }
        if self.kind != "torch":
            return {}
        return {n: f.input_names for n, f in self.torch.functions.items() if f.input_names}

    def onnx_reference(self):
        """The ONNX model onnxruntime runs beside the compiled one: the prepared model, or
        under `--dtype f16|bf16` that model's retyped tensors back in float32 (onnx_dtype.py:
        onnxruntime's CPU kernels are mostly float32, and the rounding stays)."""
        return onnx_dtype.reference_for(self.onnx, self.options.dtype)

    def roles(self) -> dict[str, list[str]]:
        """Function name -> the role of each output (fx.output_roles), once exported."""
        return {name: fx.output_roles(p) for name, p in self.prepared().items()}


def _from_module(module, example_args, options: SourceOptions, func_name: str) -> ModelSource:
    name = type(module).__name__
    if example_args is None and not options.input_specs:
        raise FrontendError(f"{name} needs example_args or input_shapes to be traced")
    args = tuple(example_args) if example_args is not None else random_inputs(options.input_specs)
    if options.dtype != DEFAULT_MODEL_DTYPE:  # cast a copy: the caller's module stays as it is
        module = copy.deepcopy(module)
    return in_dtype(ModelSource(name, {func_name: Function(module.eval(), args)}), options.dtype)


def _check_bind_applies(options: SourceOptions, what: str) -> None:
    if options.bound:
        raise FrontendError(
            f"--bind applies to ONNX models, whose graph inputs it makes constants; {what} is "
            f"not one: drop --bind"
        )


def _check_dtype_applies(options: SourceOptions, what: str) -> None:
    if options.dtype != DEFAULT_MODEL_DTYPE:
        raise FrontendError(
            f"--dtype {options.dtype} applies to models (PyTorch sources and ONNX files); "
            f"{what} keeps the element types written in it: import the model it came from "
            f"with --dtype"
        )


def _onnx_in_dtype(model, options: SourceOptions, progress: Progress):
    """A prepared ONNX model computing in --dtype (onnx_dtype.py), its types re-inferred."""
    if options.dtype == DEFAULT_MODEL_DTYPE:
        return model
    with progress.step(f"converting the model to {options.dtype}"):
        return onnx_graph.infer_shapes(onnx_dtype.convert(model, options.dtype), progress)


def load(
    source,
    options: SourceOptions | None = None,
    *,
    example_args=None,
    func_name: str = "main",
    progress: Progress = QUIET,
) -> Loaded:
    """The load stage: a source string, an `nn.Module` (with `example_args` or input shapes)
    or an `onnx.ModelProto`. Bad input raises `FrontendError` (exit 2)."""
    options = options or SourceOptions()
    if not isinstance(source, str | Path):
        if type(source).__name__ == "ModelProto":
            with progress.step("preparing the ONNX model"):
                model = onnx_graph.prepare(
                    source, options.input_specs, progress, bound=options.bound
                )
            model = _onnx_in_dtype(model, options, progress)
            name = model.graph.name or "model"
            return Loaded(name, options, onnx=model, choices=_onnx_choices(model))
        _check_bind_applies(options, type(source).__name__)
        return Loaded(
            type(source).__name__,
            options,
            torch=_from_module(source, example_args, options, func_name),
        )
    source = str(source)
    if is_mlir_file(source):
        input_file(source, "MLIR file")
        _check_dtype_applies(options, source)
        _check_bind_applies(options, source)
        return Loaded(source, options, mlir_path=source)
    if is_onnx(source):
        with progress.step(f"loading {source}"):
            model = onnx_graph.load(source, options.input_specs, progress, options.bound)
        model = _onnx_in_dtype(model, options, progress)
        return Loaded(source, options, onnx=model, choices=_onnx_choices(model))
    _check_bind_applies(options, source)
    with progress.step(f"loading {source}"):
        resolved = resolve(source, options)
    if example_args is not None:  # the caller's, in the --dtype the module now computes in
        resolved.main.example_args = cast_inputs(tuple(example_args), options.dtype)
    if len(resolved.functions) == 1 and func_name != "main":
        resolved.functions = {func_name: resolved.main}
    return Loaded(resolved.name, options, torch=resolved, choices=dict(resolved.choices))


def _onnx_choices(model) -> dict:
    return {"opset": str(onnx_graph.default_opset(model))}


def export(loaded: Loaded, progress: Progress = QUIET) -> dict:
    """The export stage (torch sources): torch.export of every function, done once."""
    if loaded.programs is None:
        source, options = loaded.torch, loaded.options
        loaded.programs = {
            name: fx.export(
                f.module,
                f.example_args,
                dynamic=options.dynamic_dims,
                mode=options.export_mode,
                limits=f.dim_limits,
                name=source.name if len(source.functions) == 1 else f"{source.name} ({name})",
                progress=progress,
            )
            for name, f in source.functions.items()
        }
    return loaded.programs


def report_choices(loaded: Loaded, progress: Progress) -> None:
    for choice, value in loaded.choices.items():
        progress.note(f"{choice}: {value}")


def to_kind(loaded: Loaded, kind: str, progress: Progress = QUIET) -> ImportedModel:
    """The import (and lower) stages for one output kind: what `frontend-mess import` prints."""
    if kind not in OUTPUT_KINDS:
        raise FrontendError(f"unknown output kind {kind!r}: use one of {', '.join(OUTPUT_KINDS)}")
    if loaded.kind == "mlir":
        raise FrontendError(f"{loaded.name} is MLIR already: compile or analyze it instead")
    if loaded.kind == "onnx":
        importer = loaded.options.onnx_importer
        module = onnx_graph.to_mlir(
            loaded.onnx, kind, importer=importer, name=loaded.name, progress=progress
        )
        choices = {"onnx importer": importer, **loaded.choices}
        return ImportedModel(loaded.name, kind, module, choices=choices, loaded=loaded)
    programs = export(loaded, progress)
    module = None
    if kind != "fx":
        module = fx.to_mlir(
            loaded.prepared(progress), kind, name=loaded.name, prepared=True, progress=progress
        )
    return ImportedModel(
        source=loaded.name,
        kind=kind,
        mlir_module=module,
        programs=programs,
        example_args={n: f.example_args for n, f in loaded.torch.functions.items()},
        choices=loaded.choices,
        loaded=loaded,
    )


@dataclass
class IreeInput:
    """What iree-compile takes: MLIR text or bytecode, its input type (None: detect), and the
    role of each output per function (mutated inputs; backend/signature.py)."""

    mlir: str | bytes
    input_type: str | None
    via: str
    roles: dict = field(default_factory=dict)


def generic_form(module) -> str:
    """A module's text in generic op form: what IREE's older MLIR parses alike."""
    return module.operation.get_asm(print_generic_op_form=True)


def module_bytecode(module) -> bytes:
    buffer = io.BytesIO()
    module.operation.write_bytecode(buffer)
    return buffer.getvalue()


def _read_mlir_file(path: str | Path) -> str | bytes:
    """A user's MLIR file, read once: bytecode as bytes, text (whatever the suffix says) as
    str, its nesting checked before any parser recurses through it."""
    path = input_file(path, "MLIR file")
    data = path.read_bytes()
    if data.startswith(MLIR_BYTECODE_MAGIC):
        return data
    text = data.decode(errors="replace")
    _check_nesting(text, path)
    return text


def parse_mlir_file(
    path: str | Path, *, allow_unregistered: bool = False, data: str | bytes | None = None
):
    """An `.mlir`/`.mlirbc` file as a torch_mlir `ir.Module` (torch-mlir's MLIR writes what
    frontend-mess imports; the torch dialect registered)."""
    from torch_mlir import ir
    from torch_mlir.dialects import torch as torch_d

    path = Path(path)
    data = _read_mlir_file(path) if data is None else data
    context = ir.Context()
    torch_d.register_dialect(context)
    context.allow_unregistered_dialects = allow_unregistered
    try:
        return ir.Module.parse(data, context)
    except Exception as exc:
        raise FrontendError(f"{path} is not valid MLIR: {first_lines(exc, 1)}") from exc


#: the first bytes of MLIR bytecode ("MLïR"), whatever the file is called.
MLIR_BYTECODE_MAGIC = b"ML\xefR"
#: nesting deeper than this is refused before a parser recurses through it (MLIR's parser
#: and printer recurse per region: 20,000 nested regions overflow the C stack, a crash).
MAX_MLIR_NESTING = 1000


def _nesting(text: str) -> int:
    """The deepest `{` nesting of MLIR text: strings and `//` comments skipped, the scan ending
    at the resource section (`{-#` outside a string: hex blobs, no structure)."""
    depth = deepest = 0
    index, size = 0, len(text)
    while index < size:
        char = text[index]
        if char == '"':  # a string: skip to its unescaped closing quote
            index += 1
            while index < size and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
        elif char == "/" and text.startswith("//", index):
            newline = text.find("\n", index)
            index = size if newline < 0 else newline
        elif char == "{":
            if text.startswith("{-#", index):
                break
            depth += 1
            deepest = max(deepest, depth)
        elif char == "}":
            depth -= 1
        index += 1
    return deepest


def _check_nesting(text: str, path: str | Path) -> None:
    if text.count("{") > MAX_MLIR_NESTING and _nesting(text) > MAX_MLIR_NESTING:
        raise FrontendError(
            f"{path} nests regions more than {MAX_MLIR_NESTING} deep: refused before parsing "
            f"(MLIR's parser recurses per region and would overflow its stack)"
        )


def _iree_parse(data: str | bytes, path: str | Path) -> tuple[object | None, str | None]:
    """(module, None) if IREE's own MLIR parses and verifies `data` with no unknown dialect,
    else (None, the first error, located in the file)."""
    from iree.compiler import ir

    try:
        return ir.Module.parse(data, ir.Context()), None
    except Exception as exc:  # MLIRError: "Unable to parse module assembly: error: ..."
        return None, _first_mlir_error(str(exc), path)


def mlir_file_for_iree(path: str | Path) -> str | bytes:
    """The parse stage of a user's MLIR file: what iree-compile gets, checked in IREE's own
    MLIR first. The file as it is where IREE reads it; else torch-mlir's generic-form reprint
    (IREE refuses bytecode from a newer producer, iree #12762, and some newer custom syntax);
    else bad input, said with the file, line and op: a syntax or type error, or an op IREE
    does not know (which iree-compile does not report but crashes on)."""
    data = _read_mlir_file(path)
    module, error = _iree_parse(data, path)
    if module is not None and not list(module.body.operations):
        raise FrontendError(f"{path} holds an empty module: there is nothing to compile")
    if module is not None:  # text as it is; bytecode as text, which input detection reads
        return data if isinstance(data, str) else generic_form(module)
    try:
        reprinted = generic_form(parse_mlir_file(path, allow_unregistered=True, data=data))
    except FrontendError:
        reprinted = None
    if reprinted is not None and _iree_parse(reprinted, path)[0] is not None:
        return reprinted
    from iree.compiler import ir

    unknown = _unregistered_ops(data, ir)
    if unknown:
        raise FrontendError(
            f"{path} uses ops that IREE does not know: {', '.join(unknown[:5])} (their "
            f"dialect is not one IREE compiles; lower them first)"
        )
    raise FrontendError(f"{path} does not parse or verify as MLIR for IREE: {error}")


def _first_mlir_error(message: str, path: str | Path) -> str:
    lines = [line.strip() for line in message.splitlines() if "error:" in line]
    first = lines[0] if lines else first_lines(message, 1)
    first = first.removeprefix("error: ")
    return first.replace('"-":', f"{Path(path).name}:", 1)


def _unregistered_ops(text: str, ir) -> list[str]:
    context = ir.Context()
    context.allow_unregistered_dialects = True
    try:
        module = ir.Module.parse(text, context)
    except Exception:
        return []
    found: list[str] = []
    for op in walk(module.operation):
        if not context.is_registered_operation(op.name) and op.name not in found:
            found.append(op.name)
    return found


def resolve_via(loaded: Loaded, via: str | None) -> str:
    """The path a source takes: `via` if given and valid for it, else its default."""
    if via is not None and via not in VIAS:
        raise FrontendError(f"unknown path {via!r}: use one of {', '.join(VIAS)}")
    if loaded.kind == "onnx":
        if via is None:
            return next(v for v, i in ONNX_VIAS.items() if i == loaded.options.onnx_importer)
        if via not in ONNX_VIAS:
            raise FrontendError(
                f"{loaded.name} is an ONNX model: it takes --via {' or --via '.join(ONNX_VIAS)}"
                f" (or --onnx-importer), not {via}"
            )
        return via
    if loaded.kind == "mlir":
        return "mlir"
    return via or DEFAULT_VIA


def for_iree(loaded: Loaded, via: str | None = None, progress: Progress = QUIET) -> IreeInput:
    """The export, import and lower stages as one path to iree-compile's input."""
    via = resolve_via(loaded, via)
    if loaded.kind == "mlir":
        return IreeInput(mlir_file_for_iree(loaded.mlir_path), None, via)
    if loaded.kind == "onnx":
        raw = onnx_graph.to_mlir(
            loaded.onnx, "raw", importer=ONNX_VIAS[via], name=loaded.name, progress=progress
        )
        name_arguments(raw, loaded.input_names())
        return IreeInput(str(raw), "onnx", via)
    if via in ONNX_VIAS:
        return _through_onnx(loaded, via, progress)
    if via == "turbine":
        return IreeInput(_turbine(loaded, progress), "torch", via)
    export(loaded, progress)
    programs = loaded.prepared(progress)
    if via == "fx-torch":
        module = fx.to_iree_torch(programs, name=loaded.name, prepared=True, progress=progress)
        name_arguments(module, loaded.input_names())
        return IreeInput(module_bytecode(module), "torch", via, loaded.roles())
    kind = _TORCH_MLIR_VIAS[via]
    module = fx.to_mlir(programs, kind, name=loaded.name, prepared=True, progress=progress)
    name_arguments(module, loaded.input_names())
    return IreeInput(generic_form(module), _INPUT_TYPE_OF_KIND[kind], via, loaded.roles())


def imported_for_iree(model: ImportedModel, progress: Progress = QUIET) -> IreeInput:
    """An imported module as iree-compile's input: its own MLIR where IREE takes that dialect
    (linalg, TOSA, StableHLO, ONNX raw), else the version-matched fx-torch path from the same
    exported programs."""
    loaded = model.loaded
    if model.kind in _INPUT_TYPE_OF_KIND:
        roles = loaded.roles() if loaded is not None else {}
        onnx = loaded is not None and loaded.kind == "onnx"
        via = resolve_via(loaded, None) if onnx else f"fx-{model.kind}"
        module = model.mlir_module
        names = loaded.input_names() if loaded is not None else {}
        if names:  # named on a copy: the user's module stays as it is
            module = module.operation.clone()
            name_arguments(module, names)
        return IreeInput(generic_form(module), _INPUT_TYPE_OF_KIND[model.kind], via, roles)
    if loaded is None:
        raise FrontendError(f"cannot compile a {model.kind!r} module without its source")
    if loaded.kind == "onnx":
        if model.kind != "raw":
            raise FrontendError(
                f"IREE takes ONNX as raw, linalg, tosa or stablehlo, not {model.kind!r}"
            )
        return IreeInput(str(model.mlir_module), "onnx", resolve_via(loaded, None))
    return for_iree(loaded, "fx-torch", progress)


#: Python's `&`, `|`, `^` on tensors (`aten.__and__.Tensor`, ...): composite ops that torch's
#: core decompositions turn into `bitwise_and` and friends, and that iree-turbine's own table
#: leaves alone. IREE's torch input has no lowering for them, and the `torch.tensor(True)` they
#: take, folded to `torch.vtensor.literal dense<true> : tensor<i1>`, is the op it then names
#: ("failed to legalize 'torch.vtensor.literal'"; the failure class of torch-mlir #4625).
#: transformers' masking_utils (`mask & torch.tensor(True)`) hit it in 16 of the 25 hf-tiny
#: models. Test: tests/unit/test_pipeline.py::test_turbine_path_lowers_tensor_and.
_TURBINE_EXTRA_DECOMPOSITIONS = ("__and__", "__or__", "__xor__")  # each one's `.Tensor` overload


def _turbine_decompositions():
    """iree-turbine's own AOT decomposition table, extended with _TURBINE_EXTRA_DECOMPOSITIONS
    (torch's core decompositions of them): one `run_decompositions`, as aot.export does it. A
    second run before aot.export turns batch norm into `_native_batch_norm_legit_no_training`,
    which IREE's torch input does not know (resnet, mobilevit failed so)."""
    import contextlib

    import torch
    from iree.turbine.aot.decompositions import extend_aot_decompositions
    from torch._decomp import core_aten_decompositions

    @contextlib.contextmanager
    def extended():
        core = core_aten_decompositions()
        with extend_aot_decompositions() as table:
            for name in _TURBINE_EXTRA_DECOMPOSITIONS:
                op = getattr(torch.ops.aten, name).Tensor
                table[op] = core[op]
            yield

    return extended()


def _turbine(loaded: Loaded, progress: Progress) -> bytes:
    import iree.turbine.aot as aot

    if loaded.options.dtype == "bf16":
        # iree-turbine #1127: aot.export turns each weight into a global through NumPy, which
        # has no bf16 ("Got unsupported ScalarType BFloat16"); pinned by
        # tests/unit/test_dtypes.py::test_iree_turbine_cannot_export_bf16_weights
        raise ExportError(
            f"iree-turbine cannot export {loaded.name} in bf16 (iree-turbine #1127): use "
            f"--via fx-torch, fx-linalg or onnx"
        )
    functions = loaded.torch.functions
    with progress.step(f"iree-turbine aot.export {loaded.name}"), upstream_output():
        try:
            with _turbine_decompositions():
                if len(functions) == 1:
                    function = loaded.torch.main
                    exported = aot.export(function.module, args=function.example_args)
                else:
                    exported = aot.export(_turbine_programs(functions))
        except Exception as exc:
            raise ExportError(
                f"iree-turbine could not export {loaded.name}: {type(exc).__name__}: "
                f"{first_lines(exc, 1)}"
            ) from exc
    name_arguments(exported.mlir_module, loaded.input_names())
    return module_bytecode(exported.mlir_module)


def _turbine_programs(functions: dict[str, Function]):
    """An encoder-decoder's functions as iree-turbine's `FxPrograms`, the named set of exported
    programs that `aot.export` turns into one module of several functions: each traced as
    `aot.export` traces one nn.Module (strict torch.export, then the current AOT decompositions).
    Test: tests/unit/test_hf.py::test_encoder_decoder_verifies_on_single_function_paths."""
    import torch
    from iree.turbine.aot import FxPrograms
    from iree.turbine.aot.compiled_module import ExportTargetDef
    from iree.turbine.aot.decompositions import current_aot_decompositions

    programs = FxPrograms()
    for func_name, function in functions.items():
        program = torch.export.export(function.module, tuple(function.example_args), strict=True)
        programs.programs[func_name] = ExportTargetDef(
            program.run_decompositions(current_aot_decompositions())
        )
    return programs


def _through_onnx(loaded: Loaded, via: str, progress: Progress) -> IreeInput:
    from frontend_mess.importers.onnx_export import export_onnx

    exporter = loaded.options.onnx_exporter
    if exporter not in ONNX_EXPORTERS:
        raise FrontendError(
            f"unknown ONNX exporter {exporter!r}: use one of {', '.join(ONNX_EXPORTERS)}"
        )
    functions = loaded.torch.functions
    raws = {}
    with tempfile.TemporaryDirectory() as scratch:
        # An ONNX graph is one function: an encoder-decoder's functions are exported one graph
        # each, imported apart and merged into one module under their own names.
        for func_name, function in functions.items():
            name = loaded.name if len(functions) == 1 else f"{loaded.name} ({func_name})"
            path = Path(scratch) / f"{func_name}.onnx"
            export_onnx(function, path, exporter, loaded.options.dynamic_dims, name, progress)
            model = onnx_graph.load(path, progress=progress)
            raws[func_name] = onnx_graph.to_mlir(
                model, "raw", importer=ONNX_VIAS[via], name=name, progress=progress
            )
            name_arguments(raws[func_name], {func_name: function.input_names})
    if len(raws) == 1:
        return IreeInput(str(next(iter(raws.values()))), "onnx", via)
    return IreeInput(str(onnx_graph.merge_functions(raws)), "onnx", via)


def externalize_input(
    iree_input: IreeInput, mode: str, progress: Progress = QUIET
) -> tuple[IreeInput, bytes | None]:
    """The params stage (`--params`, backend/params.py): iree-compile's input with its weights
    moved to a parameter archive, and the archive's bytes; the input as it was (and None)
    where `mode` keeps them inline. Done in IREE's own MLIR, so it is the same for every
    path's input: torch (fx-torch, turbine), linalg, TOSA, StableHLO and ONNX."""
    from iree.compiler import ir

    from frontend_mess.backend.params import archive_bytes, for_mode

    # a user's MLIR file keeps its weights unless asked: it may name an archive of its own
    # already, which a default NAME.irpa would overwrite
    if mode == "inline" or (mode == "auto" and iree_input.via == "mlir"):
        return iree_input, None
    module = ir.Module.parse(iree_input.mlir, ir.Context())
    with progress.step(f"--params {mode}: the weights to a parameter archive"):
        params = for_mode(mode, module, ir)
        if params is None:
            return iree_input, None
        data = archive_bytes(params)
    moved = IreeInput(
        module_bytecode(module), iree_input.input_type, iree_input.via, iree_input.roles
    )
    progress.note(
        f"params: {len(params)} weights, {params.nbytes:,} bytes, in a parameter archive "
        f"(--params inline keeps them in the IR)"
    )
    return moved, data


def compile_input(
    iree_input: IreeInput,
    spec: TargetSpec,
    *,
    name: str = "model",
    keep_diagnostics: str | Path | None = None,
    pack_parameters: bool = False,
    progress: Progress = QUIET,
) -> Artifact:
    """The compile stage (`pack_parameters`: see backend/encoder.py)."""
    artifact = compile_text(
        iree_input.mlir,
        spec,
        input_type=iree_input.input_type,
        name=name,
        roles=iree_input.roles,
        keep_diagnostics=keep_diagnostics,
        pack_parameters=pack_parameters,
        progress=progress,
    )
    artifact.via = iree_input.via
    return artifact


def assemble(
    artifact: Artifact,
    spec: TargetSpec,
    *,
    name: str = "model",
    required: bool = False,
    progress: Progress = QUIET,
):
    """The assemble stage of a cuda artifact: its PTX through ptxas for `spec.device_arch`
    (sm_90 for the Hopper route's sm_89 PTX). Returns the `ptx.Assembly`; raises AssembleError
    where ptxas rejects the PTX. Where there is nothing this can check (the module embeds the
    cubins iree-compile assembled, `--iree-cuda-use-ptxas`, or no ptxas is installed) it says
    so in a note and returns None, or, when `required` (a matrix cell, whose status claims the
    check), raises FrontendError."""
    from frontend_mess.backend.ptx import PTXAS_ENV, find_ptxas
    from frontend_mess.backend.ptx import assemble as ptxas_assemble

    skip = None
    if any(flag.split("=")[0] == "--iree-cuda-use-ptxas" for flag in spec.flags):
        skip = "the module embeds cubins iree-compile assembled (--iree-cuda-use-ptxas)"
    elif find_ptxas() is None:
        skip = (
            f"PTX not assembled: no ptxas (triton's or nvidia-cuda-nvcc's wheel, or "
            f"${PTXAS_ENV}); the driver checks it when the module loads"
        )
    if skip is not None:
        if required:
            raise FrontendError(f"{name}: {skip}")
        progress.note(skip)
        return None
    data = artifact.data if artifact.data is not None else Path(artifact.path).read_bytes()
    with progress.step(f"assembling {name}'s PTX for {spec.device_arch} (ptxas)"):
        return ptxas_assemble(data, spec.device_arch, name=name)


def compile_loaded(
    loaded: Loaded,
    spec: TargetSpec,
    *,
    via: str | None = None,
    keep_diagnostics: str | Path | None = None,
    progress: Progress = QUIET,
) -> Artifact:
    """load's result -> Artifact: `for_iree` then `compile_input`."""
    report_choices(loaded, progress)
    iree_input = for_iree(loaded, via, progress)
    return compile_input(
        iree_input, spec, name=loaded.name, keep_diagnostics=keep_diagnostics, progress=progress
    )
