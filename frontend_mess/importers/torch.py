"""PyTorch `nn.Module` -> `torch.export` -> torch-mlir's FX importer -> MLIR.

`export` and `to_mlir` are the one path every PyTorch-based source (a Python file,
torchvision, Hugging Face) goes through, so a fix here fixes all of them.
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


def _wrap_state_in_lists(program, op) -> int:
    """Put an `op` node between a lifted parameter/buffer/constant and every list that uses it.

    `import_frozen_program` replaces those placeholders by their tensors, and a list argument
    that then mixes a tensor literal with SSA values (`torch.cat([self.weight, x])`, as in Swin's
    relative position bias or MobileBERT's embeddings) fails with "Heterogeneous lists are not
    supported" (fx_importer.py `_import_list_argument`). A one-input op between the two turns
    the literal into an SSA value the list can hold. Returns how many uses were rewritten.
    """
    graph = program.graph_module.graph
    state = {
        spec.arg.name
        for spec in program.graph_signature.input_specs
        if spec.kind.name in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR")
    }
    placeholders = {n.name: n for n in graph.nodes if n.op == "placeholder" and n.name in state}
    rewritten = 0
    for node in list(graph.nodes):
        if node.op != "call_function":
            continue
        for index, arg in enumerate(node.args):
            if not isinstance(arg, list | tuple) or not any(
                getattr(a, "name", None) in placeholders for a in arg
            ):
                continue
            items = list(arg)
            for position, item in enumerate(items):
                if getattr(item, "name", None) in placeholders:
                    with graph.inserting_before(node):
                        items[position] = graph.call_function(op, (item,))
                        items[position].meta = dict(item.meta)
                    rewritten += 1
            node.update_arg(index, type(arg)(items))
    if rewritten:
        program.graph_module.recompile()
    return rewritten


def _prepare(program):
    """What every exported program needs before either FX importer sees it."""
    import torch
    from torch_mlir.extras.fx_decomp_util import get_decomposition_table

    # Decompose first: its verifier rejects non-persistent buffers in state_dict.
    program = program.run_decompositions(get_decomposition_table())
    _expose_non_persistent_buffers(program)
    _wrap_state_in_lists(program, torch.ops.aten.clone.default)
    return program


def to_mlir(programs: dict, kind: str, *, name: str = "model", progress: Progress = QUIET):
    """Import exported programs, one function each (`{"main": program}` for most models,
    `{"encoder": ..., "decoder_step": ...}` for encoder-decoders), into one module and lower it
    to `kind`. Returns a torch_mlir `ir.Module`.

    This is `fx.export_and_import` taken apart: one FxImporter takes several programs into one
    module, and the programs are prepared (`_prepare`) between export and import.
    """
    from torch_mlir import fx, ir
    from torch_mlir.compiler_utils import OutputType, TorchMlirCompilerError
    from torch_mlir.dialects import torch as torch_d
    from torch_mlir.extras.fx_importer import FxImporter

    from .literals import torch_mlir_hooks

    output_type = OutputType.get(TORCH_MLIR_OUTPUT_TYPES[kind])
    with progress.step(f"importing {name} to {kind}"), upstream_output() as captured:
        try:
            context = ir.Context()
            torch_d.register_dialect(context)
            importer = FxImporter(context=context, hooks=torch_mlir_hooks())
            for func_name, program in programs.items():
                importer.import_frozen_program(_prepare(program), func_name=func_name)
            return fx._module_lowering(False, False, output_type, importer.module)
        except TorchMlirCompilerError as exc:
            raise FrontendError(
                f"torch-mlir could not lower {name} to {kind}: "
                f"{first_mlir_error(captured.text() + str(exc))}"
            ) from None
        except Exception as exc:
            exc = _masked_cause(exc)
            raise FrontendError(
                f"torch-mlir could not import {name}: {type(exc).__name__}: {first_lines(exc, 1)}"
            ) from None


def _masked_cause(exc: BaseException) -> BaseException:
    """The real error behind torch-mlir's repro-report handler. When printing the module for
    its report fails (a MemoryError on a 644M-parameter model), the handler then reads the
    unassigned `asm_for_error_report` and raises UnboundLocalError, hiding the cause in
    `__context__` (torch_mlir/compiler_utils.py, run_pipeline_with_repro_report)."""
    if isinstance(exc, UnboundLocalError) and "asm_for_error_report" in str(exc):
        return exc.__context__ or exc
    return exc


def to_iree_torch(programs: dict, *, name: str = "model", progress: Progress = QUIET):
    """Raw torch dialect from IREE's bundled FX importer, in IREE's own MLIR: the
    version-matched input for `iree-compile --iree-input-type=torch` (iree PR #15037: IREE's
    torch pipeline is the stable entry). Returns an `iree.compiler.ir` Module."""
    from iree.compiler import ir
    from iree.compiler.extras.fx_importer import FxImporter

    from .literals import iree_hooks

    with progress.step(f"importing {name} with IREE's FX importer"), upstream_output():
        try:
            importer = FxImporter(context=ir.Context(), hooks=iree_hooks())
            for func_name, program in programs.items():
                importer.import_frozen_program(_prepare(program), func_name=func_name)
            return importer.module
        except Exception as exc:
            raise FrontendError(
                f"IREE's FX importer could not import {name}: {type(exc).__name__}: "
                f"{first_lines(exc, 1)}"
            ) from None


def first_mlir_error(report: str) -> str:
    """The first `error:` diagnostic of a pipeline run, which names the op that failed, without
    the location prefix (`loc(...)`) that is empty for imported models."""
    for line in report.splitlines():
        if "error:" in line:
            return line[line.index("error:") :].strip()
    return first_lines(report, 2)
