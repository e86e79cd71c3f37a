"""`verify --localize`: name the first op whose value the compiled program gets wrong.

A mismatch in a model's outputs says that something diverged, not where. Here every
intermediate value becomes an output of its own: the ONNX graph with each node's outputs
added to the graph's outputs (types from ONNX shape inference), or the exported FX graph
returning each ATen op's result. That program is compiled by the same stages as `compile`,
run on fresh seeded random inputs beside its framework (onnxruntime, PyTorch eager on the
same graph), and the values are compared op by op, in the graph's order, with verify's
tolerance. The first op past it is the one to look at: the ops before it agree.

Making a value an output can change what IREE fuses around it, so a bug that lives only in
one fusion may not show here; the report then says no op diverged while the model's own
outputs do (verify still fails), and `reduce` is the next step.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np

from frontend_mess.support.arrays import to_numpy
from frontend_mess.support.errors import FrontendError
from frontend_mess.support.progress import QUIET, Progress
from frontend_mess.verify import OutputCheck, allowed_error, compare, fresh_like


@dataclass
class OpCheck:
    #: the op's position in the graph's order (ONNX nodes, or FX nodes)
    index: int
    #: the op: an ONNX op type, or an ATen overload (`aten.relu.default`)
    op: str
    #: the node's name in the graph (ONNX node name, FX node name)
    node: str
    #: where it comes from: the ONNX value's name, or the nn.Module path (`layer1.0.conv1`)
    where: str
    check: OutputCheck

    def line(self) -> str:
        c = self.check
        status = "ok" if c.ok else "DIVERGES"
        shape = "x".join(map(str, c.shape)) or "scalar"
        return (
            f"#{self.index} {self.op} {self.node} ({self.where}, {shape}): max abs error "
            f"{c.max_abs:.3g} of {allowed_error(c.peak, self.rtol, self.atol):.3g} allowed  "
            f"{status}"
        )

    # the tolerance travels with the report; set by Localization
    rtol: float = 0.0
    atol: float = 0.0


@dataclass
class Localization:
    source: str
    target: str
    via: str
    reference: str
    seed: int
    rtol: float
    atol: float
    ops: list[OpCheck] = field(default_factory=list)

    @property
    def first(self) -> OpCheck | None:
        """The first op past the tolerance, or None where every value agrees."""
        return next((o for o in self.ops if not o.check.ok), None)

    @property
    def ok(self) -> bool:
        return self.first is None

    def text(self) -> str:
        head = (
            f"localize {self.source} on {self.target} via {self.via} against {self.reference}"
            f" (seed {self.seed}, rtol {self.rtol:g}, atol {self.atol:g}): "
            f"{len(self.ops)} intermediate values compared"
        )
        first = self.first
        if first is None:
            return f"{head}\nno op diverges: every intermediate value is within tolerance\n"
        before = self.ops[: self.ops.index(first)]
        shown = [*before[-3:], first]
        lines = [head, *(o.line() for o in shown)]
        lines.append(
            f"first diverging op: {first.op} {first.node} ({first.where}), #{first.index}; "
            f"the {len(before)} values before it agree"
        )
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["first"] = None if self.first is None else dataclasses.asdict(self.first)
        return json.dumps(data, indent=1, allow_nan=True) + "\n"


def localize(
    loaded,
    spec,
    *,
    via: str | None = None,
    seed: int,
    rtol: float,
    atol: float,
    progress: Progress = QUIET,
) -> Localization:
    """Compare every intermediate value of a loaded source (pipeline.Loaded) compiled for
    `spec` by `via` with its framework's, in the graph's order."""
    from frontend_mess.pipeline import resolve_via

    if loaded.kind == "mlir":
        raise FrontendError(
            f"{loaded.name} is MLIR: there is no framework graph to compare op by op; "
            f"localize the model it came from"
        )
    via = resolve_via(loaded, via)
    if loaded.kind == "onnx":
        reference, ops = "onnxruntime", _onnx_ops(loaded, spec, via, seed, progress)
    else:
        reference, ops = "PyTorch eager", _torch_ops(loaded, spec, via, seed, progress)
    result = Localization(loaded.name, spec.target, via, reference, seed, rtol, atol)
    for op, got, want in ops:
        op.check = compare(op.node, op.index, got, want, rtol, atol)
        op.rtol, op.atol = rtol, atol
        result.ops.append(op)
    return result


def _compiled_call(source, spec, via: str, arrays: list, progress: Progress, **load_args):
    """Compile a program by the pipeline's own stages and call its one function."""
    from frontend_mess.pipeline import compile_loaded, load

    loaded = load(source, progress=progress, **load_args)
    artifact = compile_loaded(loaded, spec, via=via, progress=progress)
    module = artifact.module()
    with progress.step(f"running every intermediate value on {module.config.device}"):
        return module.call(module.default_function(), arrays)


# ONNX


def exposed_onnx(model) -> tuple[object, list[tuple[int, object, str]]]:
    """A copy of the model whose outputs are its own followed by every node's outputs of a
    known type, and the (node index, node, value name) of each value to compare, in the
    graph's order (ONNX keeps nodes topologically sorted)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    typed = {v.name: v for v in (*inferred.graph.value_info, *inferred.graph.output)}
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    present = {o.name for o in exposed.graph.output}
    probes = []
    for index, node in enumerate(exposed.graph.node):
        for name in node.output:
            if not name:
                continue
            if name not in present:
                info = typed.get(name)
                tensor = info.type.tensor_type if info is not None else None
                if tensor is None or not tensor.elem_type or not tensor.HasField("shape"):
                    continue  # no type to declare it with: not compared
                exposed.graph.output.append(info)
                present.add(name)
            probes.append((index, node, name))
    return exposed, probes


def _onnx_ops(loaded, spec, via: str, seed: int, progress: Progress):
    import onnxruntime

    from frontend_mess.verify import check_verifiable

    check_verifiable(loaded)
    from frontend_mess.importers import onnx_dtype

    with progress.step("making every intermediate value an output"):
        exposed, probes = exposed_onnx(loaded.onnx)
    # under --dtype, onnxruntime runs the float32 reference of the retyped graph, as verify
    # does (pipeline.Loaded.onnx_reference), on the compiled side's rounded inputs
    reference = onnx_dtype.reference_for(exposed, loaded.options.dtype)
    session = onnxruntime.InferenceSession(
        reference.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(seed)
    from frontend_mess.backend.signature import TensorType, element_type_name

    feeds = {}
    for graph_input in session.get_inputs():
        if graph_input.type not in _ORT_TYPES:
            raise FrontendError(
                f"{loaded.name}: input {graph_input.name} is {graph_input.type}, which localize "
                f"cannot draw random values for"
            )
        dtype = np.dtype(_ORT_TYPES[graph_input.type])
        kind = TensorType(tuple(graph_input.shape), element_type_name(dtype))
        feeds[graph_input.name] = kind.random(rng)
    arrays = onnx_dtype.as_inputs_of(exposed, list(feeds.values()))  # rounded to the dtype
    feeds = dict(zip(feeds, onnx_dtype.as_inputs_of(reference, arrays), strict=True))
    names = [o.name for o in session.get_outputs()]
    expected = dict(zip(names, session.run(None, feeds), strict=True))
    got_list = _compiled_call(exposed, spec, via, arrays, progress)
    got = dict(zip([o.name for o in exposed.graph.output], got_list, strict=True))
    for index, node, name in probes:
        op = OpCheck(index, node.op_type, node.name or f"node {index}", name, None)
        yield op, np.asarray(got[name]), np.asarray(expected[name])


#: onnxruntime's input type names -> NumPy dtypes
_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


# torch


def exposed_fx(program):
    """The exported program as a GraphModule taking the flat inputs and returning every ATen
    op's tensor result (views left out: they only rename a value), with those nodes."""
    import torch

    module = program.module()
    graph = module.graph
    probes = [
        (index, node)
        for index, node in enumerate(graph.nodes)
        if node.op == "call_function"
        and isinstance(node.target, torch._ops.OpOverload)
        and not node.target.is_view
        and isinstance(node.meta.get("val"), torch.Tensor)
    ]
    output = next(n for n in graph.nodes if n.op == "output")
    # the unlifted module flattens its inputs and outputs with pytree codegen; the exposed
    # one takes the flat inputs and returns a flat tuple
    graph._codegen = torch.fx.graph.CodeGen()
    output.args = (tuple(node for _, node in probes),)
    graph.eliminate_dead_code()
    # a plain GraphModule over the same graph and weights: the unlifted module refuses
    # `eval()`, which the pipeline's load calls
    return torch.fx.GraphModule(module, graph), probes


def _module_path(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "the model"
    path = list(stack.values())[-1][0]
    return path.replace("L['self'].", "").replace("L['self']", "the model") or "the model"


def _torch_ops(loaded, spec, via: str, seed: int, progress: Progress):
    import torch

    from frontend_mess.pipeline import export

    programs = export(loaded, progress)
    generator = torch.Generator().manual_seed(seed)
    for name, function in loaded.torch.functions.items():
        with progress.step(f"making every intermediate value of {name} an output"):
            module, probes = exposed_fx(programs[name])
        inputs = tuple(fresh_like(e, generator) for e in function.example_args)
        arrays = [to_numpy(i.clone()) for i in inputs]
        with torch.no_grad():
            expected = [to_numpy(t) for t in module(*inputs)]
        got = _compiled_call(
            module, spec, via, arrays, progress, example_args=function.example_args
        )
        if len(got) != len(expected):
            raise FrontendError(
                f"{loaded.name}: the compiled program returned {len(got)} values, "
                f"PyTorch {len(expected)}"
            )
        for (index, node), g, e in zip(probes, got, expected, strict=True):
            label = node.name if len(programs) == 1 else f"{name}.{node.name}"
            yield OpCheck(index, str(node.target), label, _module_path(node), None), g, e
