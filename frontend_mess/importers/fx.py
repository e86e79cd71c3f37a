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

from frontend_mess.defaults import MIN_DYNAMIC_EXAMPLE_SIZE, TORCH_MLIR_OUTPUT_TYPES
from frontend_mess.shapes import DynamicDim
from frontend_mess.support.capture import VERBOSE_ENV, upstream_output
from frontend_mess.support.errors import (
    ExportError,
    FrontendError,
    ImporterError,
    LoweringError,
    first_lines,
)
from frontend_mess.support.mlir_types import (
    demote_f64_tensors,
    ops_on_element,
    walk_attributes,
)
from frontend_mess.support.progress import QUIET, Progress

__all__ = ["DynamicDim", "export", "output_roles", "to_iree_torch", "to_mlir"]


def dynamic_shapes(
    module,
    example_args: tuple,
    dynamic: list[DynamicDim],
    progress: Progress,
    limits: dict[tuple[int, int], int] | None = None,
):
    """Build torch.export's `dynamic_shapes` and widen size-1 example dims that must vary;
    `limits` bounds a (input, dim) from above (sources.Function.dim_limits)."""
    import torch
    from torch.export import Dim

    if not dynamic:
        return example_args, None
    symbols: dict[tuple[str, int], Dim] = {}
    specs: list[dict | None] = [None] * len(example_args)
    args = list(example_args)
    for entry in dynamic:
        for index in entry.inputs(len(args)):
            if index >= len(args) or not isinstance(args[index], torch.Tensor):
                raise FrontendError(
                    f"--dynamic-dim: dynamic dimension {entry.arg}:{entry.dim} names input "
                    f"{index}, but the model takes {len(args)} tensor input(s)"
                )
            tensor = args[index]
            if entry.dim >= tensor.dim() or entry.dim < 0:
                raise FrontendError(
                    f"--dynamic-dim: dynamic dimension {entry.dim} is out of range for input "
                    f"{index} of shape {tuple(tensor.shape)} (0 to {tensor.dim() - 1})"
                )
            traced_size = tensor.shape[entry.dim]  # before widening: what inputs share
            if traced_size < MIN_DYNAMIC_EXAMPLE_SIZE:
                repeats = [1] * tensor.dim()
                repeats[entry.dim] = MIN_DYNAMIC_EXAMPLE_SIZE
                args[index] = tensor.repeat(*repeats)
                progress.note(
                    f"input {index} dim {entry.dim} is dynamic: traced with size "
                    f"{MIN_DYNAMIC_EXAMPLE_SIZE} because torch.export fixes a size-1 dim"
                )
            limit = (limits or {}).get((index, entry.dim))
            # Inputs whose examples agree on the dim share one symbol (a batch); inputs that
            # differ get their own, or torch.export reports a constraint violation: a decoder
            # step's one decoder token and the encoder's 8 hidden states under one
            # `--dynamic-dim 1` (tests/unit/test_hf.py::test_dynamic_dims_verify_at_two_sizes).
            key = (entry.symbol(), traced_size)
            if key not in symbols:
                taken = sum(1 for k in symbols if k[0] == entry.symbol())
                name = entry.symbol() if not taken else f"{entry.symbol()}_{taken}"
                symbols[key] = Dim(name, max=limit) if limit else Dim(name)
            symbol = symbols[key]
            specs[index] = {**(specs[index] or {}), entry.dim: symbol}
    shapes = tuple(specs)
    named = _positional_before_varargs(module)
    if named is not None:
        # torch.export matches `dynamic_shapes` to the signature: a `forward(*tensors)` (the
        # Hugging Face wrapper, importers/hf.py) has one parameter, the tuple of all inputs;
        # `forward(token, position, *cache)` (hf_generation's decode step) has three.
        shapes = (*shapes[:named], tuple(shapes[named:]))
    return tuple(args), shapes


def _positional_before_varargs(module) -> int | None:
    """How many positional parameters `forward` has before its `*args`; None without one."""
    import inspect

    parameters = list(inspect.signature(module.forward).parameters.values())
    kinds = [p.kind for p in parameters]
    if inspect.Parameter.VAR_POSITIONAL not in kinds:
        return None
    return kinds.index(inspect.Parameter.VAR_POSITIONAL)


#: `--export`: auto tries non-strict (torch-mlir's default) first, then strict (TorchDynamo,
#: what torch-mlir's e2e harness and iree-turbine use) where non-strict meets a data-dependent
#: value such as `int(tensor)`; the choice is printed.
EXPORT_MODES = ("auto", "non-strict", "strict")
_DATA_DEPENDENT = ("GuardOnDataDependentSymNode", "data-dependent", "data dependent")


def export(
    module,
    example_args: tuple,
    *,
    dynamic: list[DynamicDim] | None = None,
    mode: str = "auto",
    limits: dict[tuple[int, int], int] | None = None,
    name: str = "model",
    progress: Progress = QUIET,
):
    """Trace `module` with torch.export: non-strict, strict, or (auto) non-strict with a strict
    retry where tracing hits a data-dependent value."""
    import torch

    if mode not in EXPORT_MODES:
        raise FrontendError(f"unknown export mode {mode!r}: use one of {', '.join(EXPORT_MODES)}")
    example_args, shapes = dynamic_shapes(module, example_args, dynamic or [], progress, limits)
    tries = {"auto": [False, True], "non-strict": [False], "strict": [True]}[mode]
    for attempt, strict in enumerate(tries):
        label = "strict" if strict else "non-strict"
        try:
            with progress.step(f"torch.export ({label}) {name}"), upstream_output():
                with torch.no_grad():
                    program = torch.export.export(
                        module, example_args, dynamic_shapes=shapes, strict=strict
                    )
        except SystemExit as exc:  # the model's forward exited: a failure, never success
            raise ExportError(
                f"the forward of {name} called sys.exit({exc.code!r}) while torch.export traced "
                f"it: a model must not exit"
            ) from None
        except Exception as exc:
            last = attempt == len(tries) - 1
            if not last and any(s in str(exc) for s in _DATA_DEPENDENT):
                progress.note(
                    f"non-strict torch.export met a data-dependent value in {name} "
                    f"({type(exc).__name__}): retrying with strict export"
                )
                continue
            raise ExportError(
                f"torch.export ({label}) could not trace {name}: {type(exc).__name__}: "
                f"{first_lines(exc, 2)} (rerun with {VERBOSE_ENV}=1 for torch's full output)"
            ) from exc
        return program
    raise AssertionError("unreachable: the last export try raises or returns")


def output_roles(program) -> list[str]:
    """What each output of a prepared program (`prepare`: decomposed, so functional) is:
    `user` for the model's own outputs, `mutation:NAME` for an input or buffer the model
    changed in place. The functional graph returns mutated values first; the FX importers keep
    them as extra results, and torch-mlir's own
    e2e harness keeps only the USER_OUTPUT ones (torch_mlir_e2e_test/configs/
    fx_importer_backend.py, `_export_run`); so does frontend-mess."""
    roles = []
    for spec in program.graph_signature.output_specs:
        if spec.kind.name == "USER_OUTPUT":
            roles.append("user")
        else:
            roles.append(f"mutation:{spec.target or spec.arg.name}")
    return roles


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


def prepare(program, name: str = "model", progress: Progress = QUIET):
    """What every exported program needs before either FX importer sees it; a failure here
    (torch's decompositions) is the import stage's."""
    try:
        return _prepare(program, name, progress)
    except FrontendError:
        raise
    except Exception as exc:
        raise ImporterError(
            f"decomposing the exported program of {name} for import failed: "
            f"{type(exc).__name__}: {first_lines(exc, 1)}"
        ) from exc


#: Decompositions that torch-mlir's table has for scaled-dot-product attention. With a dynamic
#: batch, SDPA -> `_scaled_dot_product_flash_attention_for_cpu` -> its math decomposition
#: views a transposed `[s0, heads, dim]` tensor as `[heads*s0, dim]`, which a symbolic batch
#: cannot be ("Cannot view a tensor with shape [s87, 8, 64] and strides (64, 64*s87, 1)").
#: pytorch #136543 (the decomposition's output strides; its workaround drops "scaled_dot" from
#: the table). Found by delta-debugging torch-mlir's table on tiny GPT-2 (notes/torch-export.md);
#: torch-mlir imports the undecomposed op and lowers it itself. Tests:
#: tests/unit/test_pipeline.py::test_torch_mlir_sdpa_decomposition_still_breaks_a_dynamic_batch,
#: tests/unit/test_pipeline.py::test_hf_decoder_with_a_dynamic_batch_verifies
_SDPA_OPS = ("scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu")


def _decompose(program, table: dict):
    with upstream_output():
        return program.run_decompositions(table)


def _uses_sdpa(program) -> bool:
    return any(
        any(op in str(node.target) for op in _SDPA_OPS)
        for node in program.graph.nodes
        if node.op == "call_function"
    )


def _prepare(program, name: str, progress: Progress):
    import torch
    from torch_mlir.extras.fx_decomp_util import get_decomposition_table

    # Decompose first: its verifier rejects non-persistent buffers in state_dict.
    table = get_decomposition_table()
    try:
        decomposed = _decompose(program, table)
    except Exception:
        if not _uses_sdpa(program):
            raise
        kept = {op: fn for op, fn in table.items() if not any(s in str(op) for s in _SDPA_OPS)}
        decomposed = _decompose(program, kept)  # raises the second failure, if any
        progress.note(
            f"{name}: scaled_dot_product_attention imported whole: torch-mlir's decomposition "
            f"of it cannot take this program's symbolic shapes"
        )
    _expose_non_persistent_buffers(decomposed)
    _wrap_state_in_lists(decomposed, torch.ops.aten.clone.default)
    bool_all_as_int32_min(decomposed)
    return decomposed


def bool_all_as_int32_min(program) -> int:
    """Rewrite, in place, each `aten.all.dim` of a bool tensor as the same reduction in int32:
    `amin(x.to(int32), dim, keepdim) != 0`; returns how many. The value is the same. Why:
    torch's SDPA math (`_safe_softmax`, in every transformers model with sdpa attention)
    asks `all(scores == -inf, dim=-1)` for fully masked rows, and IREE 3.13's CUDA codegen
    cannot bufferize a reduction into i1 ("failed to bufferize op" on
    `reduction_16x8_f32xi1`, with every GPU pipeline); into an integer it compiles. int32,
    not uint8: torch-mlir's TOSA lowering of a uint8 `amin` casts through i64, which TOSA's
    profiles reject. Only where the reduced dim is non-empty (`amin` of nothing is an error,
    `all` of nothing is true) and the result is not a program output (the signature names
    it). notes/cuda.md; tests/unit/test_cuda.py::test_bool_all_becomes_an_int32_min and
    tests/filecheck/iree/cuda-i1-reduction.mlir (the upstream failure)."""
    import torch

    aten = torch.ops.aten
    graph = program.graph_module.graph

    def rewritable(node) -> bool:
        if node.op != "call_function" or node.target != aten.all.dim:
            return False
        value = node.args[0].meta["val"]
        dim = node.args[1]
        size = value.shape[dim] if value.dim() else 1
        return (
            value.dtype == torch.bool
            and isinstance(size, int)
            and size > 0
            and not any(user.op == "output" for user in node.users)
        )

    nodes = [n for n in graph.nodes if rewritable(n)]
    for node in nodes:
        source, dim = node.args[:2]
        keepdim = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
        value = source.meta["val"]
        with graph.inserting_before(node):
            as_int = graph.call_function(aten._to_copy.default, (source,), {"dtype": torch.int32})
            smallest = graph.call_function(aten.amin.default, (as_int, [dim], keepdim))
            nonzero = graph.call_function(aten.ne.Scalar, (smallest, 0))
        with value.fake_mode:  # the importers read each node's type from its fake value
            as_int.meta["val"] = aten._to_copy.default(value, dtype=torch.int32)
            smallest.meta["val"] = aten.amin.default(as_int.meta["val"], [dim], keepdim)
            nonzero.meta["val"] = aten.ne.Scalar(smallest.meta["val"], 0)
        node.replace_all_uses_with(nonzero)
        graph.erase_node(node)
    if nodes:
        program.graph_module.recompile()
    return len(nodes)


def to_mlir(
    programs: dict,
    kind: str,
    *,
    name: str = "model",
    prepared: bool = False,
    progress: Progress = QUIET,
):
    """Import exported programs, one function each (`{"main": program}` for most models,
    `{"encoder": ..., "decoder_step": ...}` for encoder-decoders), into one module and lower it
    to `kind`. Returns a torch_mlir `ir.Module`.

    This is `fx.export_and_import` taken apart: one FxImporter takes several programs into one
    module, and the programs are prepared (`prepare`) between export and import; programs
    already prepared (pipeline.Loaded.prepared) pass `prepared=True`.
    """
    from torch_mlir import fx, ir
    from torch_mlir.compiler_utils import OutputType, TorchMlirCompilerError
    from torch_mlir.dialects import torch as torch_d
    from torch_mlir.extras.fx_importer import FxImporter

    from frontend_mess.importers.lean_pipelines import lean_pipelines
    from frontend_mess.importers.literals import torch_mlir_hooks

    output_type = OutputType.get(TORCH_MLIR_OUTPUT_TYPES[kind])
    step = progress.step(f"importing {name} to {kind}")
    with step, upstream_output() as captured, lean_pipelines():
        try:
            context = ir.Context()
            torch_d.register_dialect(context)
            # StableHLO's shape refinement takes a module of one function or a `main`
            # ("must have no more than one function or a `main` function to clearly identify
            # which function will be refined": BART and T5's encoder and decoder_step), so
            # each function is lowered in a module of its own and the modules are merged.
            # Test: test_torch_importer.py::test_encoder_decoder_lowers_to_stablehlo.
            groups = [programs] if kind != "stablehlo" else [{n: p} for n, p in programs.items()]
            modules = []
            for group in groups:
                importer = FxImporter(context=context, hooks=torch_mlir_hooks())
                for func_name, program in group.items():
                    program = program if prepared else prepare(program)
                    importer.import_frozen_program(
                        rewritten_for(kind, program), func_name=func_name
                    )
                modules.append(fx._module_lowering(False, False, output_type, importer.module))
            module = _merged(modules)
        except TorchMlirCompilerError as exc:
            raise lowering_error(name, kind, captured.text() + str(exc)) from exc
        except Exception as exc:
            cause = _masked_cause(exc)
            raise ImporterError(
                f"torch-mlir could not import {name}: {type(cause).__name__}: "
                f"{first_lines(cause, 1)}"
            ) from cause
    if kind == "tosa":
        from frontend_mess.importers.tosa_int64 import tosa_without_int64

        tosa_without_f64(module, progress)
        tosa_without_int64(module, progress)
    return module


def _unmovable_f64(module, ir) -> bool:
    """An f64 value demote_f64_tensors cannot rewrite: a `dense_resource` constant (torch-mlir
    stores larger constants so) or a scalar f64 attribute."""
    with module.context:
        for _, named in walk_attributes(module.operation):
            attr = named.attr
            if isinstance(attr, ir.FloatAttr) and isinstance(attr.type, ir.F64Type):
                return True
            try:
                resource = ir.DenseResourceElementsAttr(attr)
            except ValueError:
                continue
            if isinstance(ir.ShapedType(resource.type).element_type, ir.F64Type):
                return True
    return False


def f64_tosa_ops(module) -> list[str]:
    """TOSA ops with an f64 operand or result (torch-mlir casts through f64 for some
    constants and scalar arithmetic); TOSA's profiles have no f64."""
    from torch_mlir import ir

    return ops_on_element(module, ir, "tosa.", "f64")


def tosa_without_f64(module, progress: Progress) -> None:
    """TOSA's profiles have no f64, and IREE's TOSA input rejects it ("'tosa.cast' op is not
    profile-aligned"), but torch-mlir's TOSA lowering widens to f64 inside f32 models (20 of
    hf-tiny's 25 failed so): where no function takes or returns f64, every f64 inside is
    demoted to f32 (support/mlir_types.demote_f64_tensors), which is what PyTorch computes
    in; else a warning names the ops. Test: tests/unit/test_iree.py::test_fx_tosa_demotes_f64."""
    from torch_mlir import ir

    ops = f64_tosa_ops(module)
    if not ops:
        return
    with module.context:
        functions = [op for op in module.body.operations if op.operation.name == "func.func"]
        signature_f64 = any(
            "f64" in str(ir.TypeAttr(f.attributes["function_type"]).value) for f in functions
        )
    if not signature_f64 and not _unmovable_f64(module, ir):
        try:
            count = demote_f64_tensors(module, ir)
            module.operation.verify()
        except Exception as exc:  # noqa: BLE001  (one line, not an internal error)
            raise LoweringError(
                f"frontend-mess could not demote the f64 in the TOSA module to f32 "
                f"({first_lines(exc, 1)}): compile through --via fx-linalg or fx-torch"
            ) from exc
        progress.note(f"tosa: {count} f64 values inside the model demoted to f32 ({ops[0]}, ...)")
        return
    progress.note(
        f"warning: the TOSA module has f64 in {', '.join(ops)}; TOSA's profiles have no "
        f"f64, and IREE's TOSA input rejects it ('tosa.cast' op is not profile-aligned): "
        f"compile through --via fx-linalg or fx-torch instead (notes/iree.md)"
    )


def _merged(modules: list):
    """Modules lowered apart, as one: the ops of the others moved into the first's body (their
    function names are the distinct names they were imported under)."""
    first = modules[0]
    for other in modules[1:]:
        for op in list(other.body.operations):
            first.body.append(op)
    return first


def _ceil_extra(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """How many more rows a ceil-mode pool reads past the end of a dim than a floor-mode one
    (PyTorch's output size rule: a last window must start inside the input or its padding)."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad:
        out -= 1
    return max(0, (out - 1) * stride + dilation * (kernel - 1) + 1 - (size + 2 * pad))


def rewritten_for(kind: str, program):
    """The program with the FX rewrites that work around one lowering's bugs, for `kind`
    (the other kinds' programs are left as they are): StableHLO's ceil-mode pools and
    negative indices, TOSA's index_copy."""
    if kind == "stablehlo":
        return wrap_negative_indices(explicit_ceil_mode_padding(program))
    if kind == "tosa":
        return one_hot_index_copies(program)
    return program


def _add_node(graph, before, fake_mode, target, *args, **kwargs):
    """A call of `target` inserted before `before`, with its fake value (the importers read
    each node's type from it) computed from its arguments' fake values."""
    import torch

    with graph.inserting_before(before):
        node = graph.call_function(target, args, kwargs)
    fakes = torch.fx.node.map_arg(args, lambda n: n.meta["val"])
    with fake_mode:
        node.meta["val"] = target(*fakes, **kwargs)
    return node


def one_hot_index_copies(program):
    """The program with each `index_put` that is an `index_copy` (`x[:, :, p] = v`: indices
    `[None, ..., p]` with a 1-D `p`, not accumulating, float `x`) made a select on a one-hot
    mask, or the program itself where it has none.

    transformers' static KV cache writes each step's keys and values so
    (`StaticLayer.update`, `index_copy_` at `cache_position`), and torch-mlir's TOSA lowering
    has no conversion for that `index_put.hacked_twin` (four index tensors once the `None`s are
    expanded; torch-mlir #2031 and #2270 cover narrower forms): every hf-generate cell failed
    on fx-tosa (reports/repros/fx-tosa-lower-fail-lower-torch.aten.index_put.hacked_twin).
    `hit[q, l] = p[q] == l`; one position: `where(hit, v, x)` with `v` broadcast along the
    dim; several: each slot gathers the row of `v` that writes it (`argmax` of its column of
    `hit`), then `where(any(hit), that, x)`: values are moved, never multiplied, so an inf or
    a NaN stays in its own slot. A negative position counts from the end, as
    in index_put; written positions must be distinct, as `index_copy` wants.
    Test: tests/unit/test_torch_importer.py::test_index_copy_lowers_to_tosa.
    """
    import copy

    import torch

    aten = torch.ops.aten

    def rewritable(node) -> int | None:
        """The dim `node` copies along, where it is such an index_put."""
        if node.target not in (aten.index_put.default, aten.index_put_.default):
            return None
        if len(node.args) > 3 and node.args[3]:
            return None  # accumulate
        target, indices = node.args[0].meta["val"], node.args[1]
        if not target.dtype.is_floating_point or not indices:
            return None
        *leading, index = indices
        if index is None or any(i is not None for i in leading):
            return None
        value = index.meta["val"]
        if value.dim() != 1 or value.dtype.is_floating_point or value.dtype == torch.bool:
            return None
        if not isinstance(value.shape[0], int):  # a dynamic number of positions
            return None
        dim = len(leading)
        if not all(isinstance(s, int) for s in target.shape) or dim >= target.dim():
            return None
        return dim

    if not any(rewritable(n) is not None for n in program.graph.nodes):
        return program
    program = copy.deepcopy(program)
    graph = program.graph_module.graph
    for node in [n for n in graph.nodes if rewritable(n) is not None]:
        dim = rewritable(node)
        target, index, values = node.args[0], node.args[1][-1], node.args[2]
        fake = target.meta["val"]
        rank, slots = fake.dim(), int(fake.shape[dim])
        positions = int(index.meta["val"].shape[0])

        def add(op, *args, _at=node, _mode=fake.fake_mode, **kwargs):
            return _add_node(graph, _at, _mode, op, *args, **kwargs)

        iota = add(aten.arange.start_step, 0, slots, 1, dtype=index.meta["val"].dtype)
        rows = list(fake.shape)
        rows[dim] = positions
        if list(values.meta["val"].shape) != rows:  # index_put broadcasts its values
            values = add(aten.expand.default, values, rows)
        negative = add(aten.lt.Scalar, index, 0)  # index_put counts a negative one from the end
        index = add(aten.where.self, negative, add(aten.add.Scalar, index, slots), index)
        row = add(aten.unsqueeze.default, index, 1)  # [positions, 1]
        hit = add(aten.eq.Tensor, row, add(aten.unsqueeze.default, iota, 0))  # [positions, slots]
        along = [1] * rank
        along[dim] = slots
        if positions == 1:  # v has size 1 at `dim`: it broadcasts along it
            copied = add(aten.where.self, add(aten.view.default, hit, along), values, target)
        else:  # each slot takes the row that writes it (a gather: no arithmetic on values)
            scores = add(aten._to_copy.default, hit, dtype=torch.float32)
            which = add(aten.argmax.default, scores, 0)  # [slots]: the row, or 0 if none
            written = add(aten.index_select.default, values, dim, which)
            covered = add(aten.view.default, add(aten.any.dim, hit, 0), along)
            copied = add(aten.where.self, covered, written, target)
        node.replace_all_uses_with(copied)
        graph.erase_node(node)
    program.graph_module.recompile()
    return program


def explicit_ceil_mode_padding(program):
    """The program with each ceil-mode max pool (whose indices are unused) made a floor-mode
    pool over an input padded with -inf at its end, or the program itself where it has none.

    torch-mlir's StableHLO lowering of `max_pool2d_with_indices` with `ceil_mode=True` gets the
    output's shape right (torch-mlir #4167) but pads the window symmetrically, while PyTorch
    pads only at the end (as tt-mlir #3521 says of the same lowering): squeezenet1_0's pool at
    `features.6` (54 -> 27) is off by up to 5.7 (`verify --localize` named it). The padding
    made explicit is what PyTorch computes. Test:
    tests/unit/test_torch_importer.py::test_ceil_mode_max_pool_verifies_on_stablehlo."""
    import copy
    import operator

    import torch

    aten = torch.ops.aten

    def rewritable(node) -> bool:
        if node.target != aten.max_pool2d_with_indices.default or len(node.args) < 6:
            return False
        if not node.args[5]:
            return False
        users = list(node.users)
        return all(u.target is operator.getitem and u.args[1] == 0 for u in users)

    if not any(rewritable(n) for n in program.graph.nodes):
        return program
    program = copy.deepcopy(program)
    graph = program.graph_module.graph
    for node in [n for n in graph.nodes if rewritable(n)]:
        source, kernel, stride, padding, dilation = node.args[:5]
        stride = stride or kernel
        shape = node.args[0].meta["val"].shape
        extra = [
            _ceil_extra(int(shape[-2 + i]), kernel[i], stride[i], padding[i], dilation[i])
            for i in range(2)
        ]
        arguments = (source, [0, extra[1], 0, extra[0]], float("-inf"))
        with graph.inserting_before(node):
            padded = graph.call_function(aten.constant_pad_nd.default, arguments)
        value = source.meta["val"]
        with value.fake_mode:  # the importer reads each node's type from its fake value
            padded.meta["val"] = aten.constant_pad_nd.default(value, *arguments[1:])
        node.args = (padded, kernel, stride, padding, dilation, False)
    program.graph_module.recompile()
    return program


def wrap_negative_indices(program):
    """The program with each integer index of `aten.index.Tensor` wrapped into range
    (`where(i < 0, i + size, i)`), or the program itself where it has none.

    torch-mlir's StableHLO lowering passes the index to `stablehlo.gather` as it is, and a
    gather clamps an out-of-range start index: `x[..., [-2], :]` reads row 0 instead of the
    second to last. Falcon's fused QKV split does exactly that (`verify --localize` named
    `aten.index.Tensor` in `self_attention`, max error 0.62). The linalg lowering wraps negative
    indices since torch-mlir PR #2233 (for the same Falcon pattern, iree #13951); the StableHLO
    one does not.
    Test: tests/unit/test_torch_importer.py::test_negative_index_verifies_on_stablehlo."""
    import copy

    import torch

    aten = torch.ops.aten

    def wrappable(node) -> list[int]:
        if node.target != aten.index.Tensor:
            return []
        shape = node.args[0].meta["val"].shape
        return [
            dim
            for dim, index in enumerate(node.args[1])
            if index is not None
            and not index.meta["val"].dtype.is_floating_point
            and index.meta["val"].dtype != torch.bool
            and isinstance(shape[dim], int)
        ]

    if not any(wrappable(n) for n in program.graph.nodes):
        return program
    program = copy.deepcopy(program)
    graph = program.graph_module.graph
    for node in [n for n in graph.nodes if wrappable(n)]:
        indices = list(node.args[1])
        size = node.args[0].meta["val"].shape
        for dim in wrappable(node):
            index = indices[dim]
            mode = index.meta["val"].fake_mode
            negative = _add_node(graph, node, mode, aten.lt.Scalar, index, 0)
            shifted = _add_node(graph, node, mode, aten.add.Scalar, index, int(size[dim]))
            indices[dim] = _add_node(graph, node, mode, aten.where.self, negative, shifted, index)
        node.args = (node.args[0], indices, *node.args[2:])
    program.graph_module.recompile()
    return program


def _masked_cause(exc: BaseException) -> BaseException:
    """The real error behind torch-mlir's repro-report handler. When printing the module for
    its report fails (a MemoryError on a 644M-parameter model), the handler then reads the
    unassigned `asm_for_error_report` and raises UnboundLocalError, hiding the cause in
    `__context__` (torch_mlir/compiler_utils.py, run_pipeline_with_repro_report). The FX and
    ONNX lowerings now run without that print (lean_pipelines.py); a caller of torch-mlir's
    own functions outside them may still meet it."""
    if isinstance(exc, UnboundLocalError) and "asm_for_error_report" in str(exc):
        return exc.__context__ or exc
    return exc


def to_iree_torch(
    programs: dict, *, name: str = "model", prepared: bool = False, progress: Progress = QUIET
):
    """Raw torch dialect from IREE's bundled FX importer, in IREE's own MLIR: the
    version-matched input for `iree-compile --iree-input-type=torch` (iree PR #15037: IREE's
    torch pipeline is the stable entry). Returns an `iree.compiler.ir` Module."""
    from iree.compiler import ir
    from iree.compiler.extras.fx_importer import FxImporter

    from frontend_mess.importers.literals import iree_hooks

    with progress.step(f"importing {name} with IREE's FX importer"), upstream_output():
        try:
            importer = FxImporter(context=ir.Context(), hooks=iree_hooks())
            for func_name, program in programs.items():
                importer.import_frozen_program(
                    program if prepared else prepare(program), func_name=func_name
                )
            return importer.module
        except Exception as exc:
            raise ImporterError(
                f"IREE's FX importer could not import {name}: {type(exc).__name__}: "
                f"{first_lines(exc, 1)}"
            ) from exc


def lowering_error(name: str, kind: str, report: str) -> LoweringError:
    """The lower stage's error: torch-mlir's first diagnostic in `report` (what it printed and
    its exception's text)."""
    return LoweringError(f"torch-mlir could not lower {name} to {kind}: {first_mlir_error(report)}")


def lower_torch_module(module, kind: str, *, name: str = "model"):
    """A torch-backend module (the `torch` kind) lowered to linalg, tosa or stablehlo by
    torch-mlir's backend pipeline, in place: the lower stage alone (reduce/mlir_stage.py)."""
    from torch_mlir.compiler_utils import OutputType, TorchMlirCompilerError, lower_mlir_module

    from frontend_mess.importers.lean_pipelines import lean_pipelines

    with upstream_output() as captured, lean_pipelines():
        try:
            return lower_mlir_module(False, OutputType.get(TORCH_MLIR_OUTPUT_TYPES[kind]), module)
        except TorchMlirCompilerError as exc:
            raise lowering_error(name, kind, captured.text() + str(exc)) from exc


def first_mlir_error(report: str) -> str:
    """The first `error:` diagnostic of a pipeline run, which names the op that failed, without
    the location prefix (`loc(...)`) that is empty for imported models."""
    for line in report.splitlines():
        if "error:" in line:
            return line[line.index("error:") :].strip()
    return first_lines(report, 2)
