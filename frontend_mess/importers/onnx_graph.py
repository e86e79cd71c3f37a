"""ONNX files -> torch dialect (`torch.operator "onnx.*"`) -> torch / linalg / tosa / stablehlo.

Two importers sit behind `--onnx-importer`:
- `torch-mlir`: `torch_mlir.extras.onnx_importer`, the one behind `torch-mlir-import-onnx`;
  its output lives in torch-mlir's own MLIR, so torch-mlir's pipelines lower it directly.
- `iree`: IREE's bundled copy, the one behind `iree-import-onnx`, built against IREE's MLIR.
  Its output is re-parsed as text by torch-mlir for lowering (the raw `onnx.*` operator form is
  generic, so the text is the same in both MLIR versions).
Which is the default, and why, is in notes/onnx.md.

Before import: the model is loaded with its external data (files beside it), upgraded to
MIN_ONNX_OPSET if older (torch-mlir's OnnxToTorch patterns are written against recent opsets),
given the fixed input shapes the user asked for, shape-inferred, the function ops whose direct
lowering is missing expanded into their ONNX bodies (onnx_functions.py), and constant-folded
(onnxscript's optimizer), so that shape arithmetic reaches OnnxToTorch as constants.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

from frontend_mess.defaults import DEFAULT_ONNX_IMPORTER, MIN_ONNX_OPSET, ONNX_IMPORTERS
from frontend_mess.shapes import InputSpec, check_elements
from frontend_mess.support.capture import upstream_output
from frontend_mess.support.errors import FrontendError, ImporterError, first_lines
from frontend_mess.support.mlir_types import inline_empty_resources
from frontend_mess.support.paths import input_file
from frontend_mess.support.progress import QUIET, Progress

TORCH_ONNX_PIPELINE = "builtin.module(torch-onnx-to-torch-backend-pipeline)"


def load(
    path: str | Path,
    input_specs: list[InputSpec] | None = None,
    progress: Progress = QUIET,
    bound: dict[str, list[int]] | None = None,
):
    """Read, bind (`--bind`), upgrade, fix shapes, infer shapes. Returns the ModelProto."""
    import onnx

    path = input_file(path, "ONNX file")
    try:
        model = onnx.load(str(path), load_external_data=True)
    except Exception as exc:  # DecodeError, onnx's ValidationError for missing data, OSError
        raise FrontendError(
            f"{path} is not a readable ONNX model ({type(exc).__name__}: {first_lines(exc, 1)}): "
            f"is the file truncated, or its external data missing from {path.parent}?"
        ) from exc
    if not model.graph.node:
        raise FrontendError(f"{path} holds no ONNX graph: is it an ONNX model file?")
    check(model, path)
    return prepare(model, input_specs, progress, name=str(path), bound=bound)


def check(model, path: Path) -> None:
    """ONNX's own checker, then the input sizes: a graph the format's checker rejects (a node
    reading a value nothing defines, a bad attribute) is the file's fault, and is said so
    before any importer meets it; an input of 10^18 elements is a claim no run can meet."""
    import onnx

    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise FrontendError(
            f"{path} fails ONNX's own checker (onnx.checker.check_model): {first_lines(exc, 1)}"
        ) from exc
    except ValueError:  # over protobuf's 2 GB: checking in memory is impossible, import checks
        pass
    for value in graph_inputs(model):
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim if d.HasField("dim_value")]
        try:
            check_elements(tuple(dims), "x".join(map(str, dims)))
        except FrontendError as exc:
            raise FrontendError(f"input {value.name!r} of {path}: {exc}") from None


def prepare(
    model,
    input_specs: list[InputSpec] | None = None,
    progress: Progress = QUIET,
    name: str = "",
    bound: dict[str, list[int]] | None = None,
):
    """Upgrade an old opset, fix input shapes, bind the inputs `--bind` names, infer shapes,
    expand the chosen function ops, fold constants: what every ONNX model gets before import,
    whether it came from a file or from memory (the conformance cases)."""
    from frontend_mess.importers import onnx_specialize

    name = name or model.graph.name
    label = Path(name).name  # the file's name, not its directory
    opset = default_opset(model)
    if opset < MIN_ONNX_OPSET:
        from onnx import version_converter

        with progress.step(f"upgrading {label} from opset {opset} to {MIN_ONNX_OPSET}"):
            try:
                model = version_converter.convert_version(model, MIN_ONNX_OPSET)
                progress.note(f"upgraded {label} from opset {opset} to {MIN_ONNX_OPSET}")
            except Exception as exc:
                progress.note(
                    f"opset upgrade failed, importing opset {opset}: {first_lines(exc, 1)}"
                )
    if input_specs:  # before --bind: positional shapes count the file's inputs
        fix_input_shapes(model, input_specs, Path(name))
    if bound:  # before folding, which then sees the constants
        model = onnx_specialize.bind_given(model, bound, name)
    note = onnx_specialize.unbound_note(model)
    if note:
        progress.note(f"{label}: {note}")
    model = infer_shapes(model, progress)
    model = expand_functions(model, progress, label)
    return infer_shapes(fold_constants(model, progress, label), progress)


def expand_functions(model, progress: Progress = QUIET, label: str = ""):
    """ONNX_EXPAND_FUNCTIONS' ops replaced by their bodies (onnx_functions.py)."""
    from frontend_mess.importers import onnx_functions

    try:
        return onnx_functions.expand(model)
    except Exception as exc:  # onnx's inliner or shape inference on an odd graph
        progress.note(f"{label}: function expansion failed, importing as is: {first_lines(exc, 1)}")
        return model


def infer_shapes(model, progress: Progress = QUIET):
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception as exc:
        progress.note(f"ONNX shape inference failed, importing as is: {first_lines(exc, 1)}")
        return model


def fold_constants(model, progress: Progress = QUIET, label: str = ""):
    """onnxscript's optimizer (constant folding with shape knowledge, dead code removal).

    Why: torch-mlir's OnnxToTorch patterns need some operands as constants (the `axes` of
    ReduceMean/ReduceSum, the `shape` of Reshape), and exporters and ONNX's own function bodies
    often compute them from `Shape` of a statically shaped value; folded, they are constants
    (test: test_onnx_importer.py::test_folding_makes_computed_axes_constant). Models with more
    than ONNX_FOLD_MAX_BYTES of weights are imported as they are: the optimizer holds a second
    copy of every tensor."""
    from frontend_mess.defaults import ONNX_FOLD_MAX_BYTES

    if any(
        n.op_type == "CastLike" and any(a.name == "saturate" for a in n.attribute)
        for n in model.graph.node
    ):
        # onnxscript 0.7.2 folds CastLike(x, constant) into Cast(x, to=...) and drops its
        # `saturate` attribute, which changes the float8 result; such graphs stay unfolded.
        # Test: test_onnx.py::test_castlike_saturate_survives_prepare.
        progress.note(f"{label}: CastLike with `saturate`: constant folding skipped")
        return model
    weights = sum(t.ByteSize() for t in model.graph.initializer)
    if weights > ONNX_FOLD_MAX_BYTES:
        progress.note(f"{label}: {weights >> 20} MiB of weights, constant folding skipped")
        return model
    try:
        import numpy
        import onnxscript.optimizer

        # folding evaluates with onnx's reference ops in numpy: log(0) = -inf and a NaN cast
        # are values the model asked for, not faults to print (T5's relative position buckets);
        # onnx_ir's passes log a warning per initializer they leave alone ("Skipped
        # deduplication of initializer ... as it is a graph input", one line per weight of an
        # IR-3 model: test_onnx.py::test_preparing_an_old_model_prints_nothing)
        with warnings.catch_warnings(), numpy.errstate(all="ignore"), _quiet_logger("onnx_ir"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return onnxscript.optimizer.optimize(model)
    except Exception as exc:  # the optimizer's own bugs must not stop an import
        progress.note(f"constant folding failed, importing unfolded: {first_lines(exc, 1)}")
        return model


@contextlib.contextmanager
def _quiet_logger(name: str):
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def default_opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def graph_inputs(model) -> list:
    """The real inputs: graph inputs that are not initializers (old IR versions list both)."""
    initializers = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def fix_input_shapes(model, specs: list[InputSpec], path: Path) -> None:
    """Set dims from `NAME=1x3x224x224` specs (or positional specs, in input order)."""
    inputs = graph_inputs(model)
    by_name = {i.name: i for i in inputs}
    for position, spec in enumerate(specs):
        if spec.name is not None:
            if spec.name not in by_name:
                raise FrontendError(
                    f"{path} has no input {spec.name!r}: its inputs are {', '.join(by_name)}"
                )
            target = by_name[spec.name]
        elif position < len(inputs):
            target = inputs[position]
        else:
            raise FrontendError(f"{path} takes {len(inputs)} inputs, got {len(specs)} shapes")
        dims = target.type.tensor_type.shape.dim
        if len(dims) not in (0, len(spec.shape)):
            raise FrontendError(
                f"input {target.name!r} of {path} has rank {len(dims)}, "
                f"the shape {spec} has rank {len(spec.shape)}"
            )
        target.type.tensor_type.shape.ClearField("dim")
        for size in spec.shape:
            target.type.tensor_type.shape.dim.add().dim_value = size


def _import_torch_mlir(model):
    from torch_mlir import ir
    from torch_mlir.dialects import torch as torch_d
    from torch_mlir.extras import onnx_importer

    context = ir.Context()
    torch_d.register_dialect(context)
    info = onnx_importer.ModelInfo(model)
    module = info.create_module(context=context)
    onnx_importer.NodeImporter.define_function(info.main_graph, module.operation).import_all()
    return module


def _import_iree(model):
    """IREE's importer, then the text re-parsed in torch-mlir's context."""
    from iree.compiler import ir as iree_ir
    from iree.compiler.extras import onnx_importer as iree_onnx
    from torch_mlir import ir
    from torch_mlir.dialects import torch as torch_d

    iree_context = iree_ir.Context()
    info = iree_onnx.ModelInfo(model)
    iree_module = info.create_module(context=iree_context)
    iree_onnx.NodeImporter.define_function(info.main_graph, iree_module.operation).import_all()
    text = iree_module.operation.get_asm(assume_verified=False)
    context = ir.Context()
    torch_d.register_dialect(context)
    return ir.Module.parse(text, context)


def merge_functions(modules: dict):
    """Raw modules of one ONNX graph each -> one module: each graph's function renamed to its
    key (`encoder`, `decoder_step`), reparsed into the first module's context and moved into
    its body (MLIR's parser renames a weight's resource where two graphs share its name)."""
    from torch_mlir import ir

    merged = None
    for func_name, module in modules.items():
        if merged is not None:
            module = ir.Module.parse(str(module), merged.context)
        functions = [op for op in module.body.operations if op.operation.name == "func.func"]
        if len(functions) != 1:
            raise ImporterError(f"an imported ONNX graph has {len(functions)} functions, not 1")
        with module.context:
            functions[0].attributes["sym_name"] = ir.StringAttr.get(func_name)
        if merged is None:
            merged = module
        else:
            for op in list(module.body.operations):
                merged.body.append(op)
    return merged


def to_mlir(
    model,
    kind: str,
    *,
    importer: str = DEFAULT_ONNX_IMPORTER,
    name: str = "model",
    progress: Progress = QUIET,
):
    """Import a loaded ModelProto and lower it to `kind` (not `fx`: ONNX is not traced)."""
    if importer not in ONNX_IMPORTERS:
        raise FrontendError(
            f"unknown ONNX importer {importer!r}: use one of {', '.join(ONNX_IMPORTERS)}"
        )
    if kind == "fx":
        raise FrontendError(f"--to fx does not apply to ONNX ({name}): use raw, torch or linalg")
    with progress.step(f"importing {name} with the {importer} ONNX importer"), upstream_output():
        try:
            module = _import_iree(model) if importer == "iree" else _import_torch_mlir(model)
            from torch_mlir import ir

            inline_empty_resources(module, ir)
            module.operation.verify()
        except Exception as exc:
            raise ImporterError(
                f"the {importer} ONNX importer failed on {name}: {type(exc).__name__}: "
                f"{first_lines(exc, 1)}"
            ) from exc
    if kind == "raw":
        return module
    # Only here: torch_mlir.compiler_utils imports torch, seconds that a raw import (what IREE
    # compiles) does not need.
    from torch_mlir.compiler_utils import OutputType, TorchMlirCompilerError, lower_mlir_module

    from frontend_mess.defaults import TORCH_MLIR_OUTPUT_TYPES
    from frontend_mess.importers.lean_pipelines import lean_pipelines, run_pipeline

    step = progress.step(f"lowering {name} to {kind}")
    with step, upstream_output() as captured, lean_pipelines():
        try:
            run_pipeline(module, TORCH_ONNX_PIPELINE, "ONNX to torch backend")
            if kind != "torch":
                output_type = OutputType.get(TORCH_MLIR_OUTPUT_TYPES[kind])
                module = lower_mlir_module(False, output_type, module)
        except TorchMlirCompilerError as exc:
            from frontend_mess.importers.fx import lowering_error

            raise lowering_error(name, kind, captured.text() + str(exc)) from exc
    return module


def load_raw(
    path: str | Path,
    input_specs: list[InputSpec] | None = None,
    progress: Progress = QUIET,
    name: str | None = None,
    importer: str = DEFAULT_ONNX_IMPORTER,
) -> tuple:
    """(the prepared ModelProto, its `raw` MLIR text): what IREE's `--iree-input-type=onnx`
    takes, and the model onnxruntime runs as the reference."""
    model = load(path, input_specs, progress)
    raw = to_mlir(model, "raw", importer=importer, name=name or str(path), progress=progress)
    return model, str(raw)
