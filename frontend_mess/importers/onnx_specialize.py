"""Graph inputs the compiler must see as constants, bound to the values a run supplies.

Since opset 13 (ReduceSum) and 18 (the other Reduce* ops) the axes of a reduction are an input
tensor, not an attribute. Exporters write them as a constant; a graph may also take them as a
graph input (onnx's own conformance cases do, for every Reduce* case). torch-mlir's OnnxToTorch
lowers such a reduction to `torch.aten.sum.dim_IntList` (or amax, amin, ...) over a dim list it
cannot read, and the torch-to-linalg conversion needs constant dims: "failed to legalize
operation 'torch.aten.sum.dim_IntList'" (66 conformance cases), or for ReduceMax/ReduceMin a
left-over `torch.constant.bool` (12). Upstream: torch-mlir #3573 (open: "around 10% of the
total failures in the iree onnx node tests"); nod-ai/AMD-SHARK-ModelDev #653 ended with the peer
suite making the axes static in its test cases. A compiled program with static shapes cannot
take a run-time axis list anyway when the output's shape depends on it.

So a backend that is handed such a graph does what TensorRT does with shape tensors: it compiles
when the run supplies the values, with those inputs bound as initializers, and compiles again
for other values (onnx_backend.SpecializingRep; the matrix's onnx-node cells record which inputs
were bound, `specialized`); on the command line `--bind NAME=V,...` binds them before import
(`bind_given`), and loading a graph that needs it says so. `CONSTANT_OPERANDS` lists the (op,
input position) pairs this applies to, each for a measured failure; a graph input that feeds
anything else stays an input.
Tests: tests/unit/test_onnx_specialize.py.
"""

from __future__ import annotations

import numpy as np

#: op type -> the input positions OnnxToTorch needs as constants (the reductions' `axes`)
CONSTANT_OPERANDS: dict[str, tuple[int, ...]] = {
    op: (1,)
    for op in (
        "ReduceL1",
        "ReduceL2",
        "ReduceLogSum",
        "ReduceLogSumExp",
        "ReduceMax",
        "ReduceMean",
        "ReduceMin",
        "ReduceProd",
        "ReduceSum",
        "ReduceSumSquare",
    )
}


def constant_inputs(model) -> list[str]:
    """The graph inputs (in graph order) that feed a CONSTANT_OPERANDS position directly, in
    the main graph or in an If/Loop/Scan body that reads them from outside."""
    from frontend_mess.importers.onnx_graph import graph_inputs

    wanted = set(_constant_operands(model.graph))
    return [i.name for i in graph_inputs(model) if i.name in wanted]


def _constant_operands(graph):
    from onnx import AttributeProto

    for node in graph.node:
        if node.domain in ("", "ai.onnx"):
            for position in CONSTANT_OPERANDS.get(node.op_type, ()):
                if position < len(node.input) and node.input[position]:
                    yield node.input[position]
        for attribute in node.attribute:
            if attribute.type == AttributeProto.GRAPH:
                yield from _constant_operands(attribute.g)
            elif attribute.type == AttributeProto.GRAPHS:
                for body in attribute.graphs:
                    yield from _constant_operands(body)


def bind(model, values: dict):
    """A copy of `model` with the named graph inputs made initializers holding `values`."""
    import onnx
    from onnx import numpy_helper

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    kept = [i for i in copy.graph.input if i.name not in values]
    del copy.graph.input[:]
    copy.graph.input.extend(kept)
    for name, value in values.items():
        copy.graph.initializer.append(numpy_helper.from_array(value, name))
    return copy


def split(model, names: list[str], inputs: list) -> tuple[dict, list]:
    """A run's `inputs` (in graph-input order) as ({bound name: value}, the rest, in order)."""
    from frontend_mess.importers.onnx_graph import graph_inputs

    order = [i.name for i in graph_inputs(model)]
    values = {n: v for n, v in zip(order, inputs, strict=False) if n in names}
    rest = [v for n, v in zip(order, inputs, strict=False) if n not in names]
    return values, rest


def value_key(values: dict) -> tuple:
    """What makes two runs' bound values the same program."""
    return tuple(
        (name, np.asarray(v).dtype.str, np.asarray(v).shape, np.asarray(v).tobytes())
        for name, v in sorted(values.items())
    )


def bind_given(model, given: dict[str, list[int]], where: str):
    """`--bind NAME=V,...`: the named graph inputs of `model` (read from `where`) made constants
    of those integers, in each input's declared element type and length."""
    from onnx import helper

    from frontend_mess.importers.onnx_graph import graph_inputs
    from frontend_mess.support.errors import FrontendError

    inputs = {i.name: i for i in graph_inputs(model)}
    values = {}
    for name, numbers in given.items():
        if name not in inputs:
            raise FrontendError(
                f"{where} has no input {name!r} to --bind: its inputs are {', '.join(inputs)}"
            )
        tensor = inputs[name].type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        if not tensor.HasField("shape"):  # unknown rank: a list, as axes are
            dims: list[int | None] = [None]
        else:
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        fits = dims in ([None], [len(numbers)]) or (dims == [] and len(numbers) == 1)
        if dtype.kind not in "iu" or not fits:
            declared = "x".join("?" if d is None else str(d) for d in dims) or "scalar"
            raise FrontendError(
                f"--bind {name}: input {name!r} of {where} is {dtype} of shape {declared}, "
                f"which {len(numbers)} integer(s) do not fill: give one integer per element"
            )
        array = np.asarray(numbers, dtype=dtype)
        values[name] = array.reshape(()) if not dims else array
    return bind(model, values)


def unbound_note(model) -> str | None:
    """What to say when a graph takes an input the compiler needs as a constant."""
    names = constant_inputs(model)
    if not names:
        return None
    listed = ", ".join(names)
    feeds = "feeds" if len(names) == 1 else "feed"
    binds = " ".join(f"--bind {n}=V[,V...]" for n in names)
    return (
        f"input {listed} {feeds} a reduction's axes, which IREE needs as a constant "
        f"(torch-mlir #3573): give the value with {binds}"
    )
