"""Delta debugging of an ONNX graph by windows of its nodes (kept in topological order).

A window (lo, hi) is the program that computes node `hi`'s outputs from the nodes at
positions lo..hi that it needs; a value made before `lo` (or by a dropped node) becomes a
graph input of its own, with the type ONNX shape inference gives it. Constant nodes, and values
of integer or bool types (shapes, axes, indices), are never cut off: a shape or an axis that
turned into a random input would make a different program.
Subgraphs are cut out by onnx's own `onnx.utils.Extractor`.

The search, each step verified by the oracle (a candidate either fails the same way or not):
1. the earliest `hi` whose window from the start fails (bisection; a mismatch starts from the
   first diverging node that `verify --localize` names),
2. the latest `lo` that still fails (bisection),
3. dropping the window's other nodes one at a time while it still fails.
A bisection assumes that failing is monotone along the graph; where it is not, the step
still ends on a candidate the oracle confirmed, only a larger one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: ONNX's floating element types (TensorProto FLOAT, FLOAT16, DOUBLE, BFLOAT16): the values a
#: window may take as random inputs
_FLOATING = (1, 10, 11, 16)


@dataclass(frozen=True)
class Window:
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    nodes: frozenset[int]


@dataclass
class Search:
    """What the search tried: each candidate's node count and whether it failed the same way."""

    tried: list[tuple[int, bool]] = field(default_factory=list)


class OnnxGraph:
    def __init__(self, model) -> None:
        import onnx

        self.model = onnx.shape_inference.infer_shapes(model)
        self.measured = measured_shapes(self.model)
        graph = self.model.graph
        self.nodes = list(graph.node)
        self.initializers = {i.name for i in graph.initializer}
        self.producer = {
            value: index for index, node in enumerate(self.nodes) for value in node.output if value
        }
        self.constants = {i for i, n in enumerate(self.nodes) if n.op_type == "Constant"}
        #: every value's position: the graph's inputs, then each node's outputs in order
        values = [i.name for i in graph.input]
        values += [v for node in self.nodes for v in node.output if v]
        self.order = {v: i for i, v in enumerate(values)}
        #: values of an integer or bool type: shapes, axes, indices. They are never cut off
        #: (random values would make a different program, or one onnxruntime rejects)
        typed = {v.name: v for v in (*graph.value_info, *graph.output)}
        self.integral = {
            name for name, info in typed.items() if info.type.tensor_type.elem_type not in _FLOATING
        }

    def window(self, lo: int, hi: int, dropped: frozenset[int] = frozenset()) -> Window:
        outputs = tuple(v for v in self.nodes[hi].output if v)
        inputs: list[str] = []
        included: set[int] = set()
        seen: set[str] = set()
        stack = list(outputs)
        while stack:
            value = stack.pop()
            if not value or value in seen or value in self.initializers:
                continue
            seen.add(value)
            index = self.producer.get(value)
            cut = index is None or (
                (index < lo or index in dropped)
                and index not in self.constants
                and value not in self.integral
                and index != hi
            )
            if cut:
                inputs.append(value)
                continue
            included.add(index)
            stack.extend(self.nodes[index].input)
        order = self.order
        return Window(
            tuple(sorted(inputs, key=lambda v: order.get(v, -1))), outputs, frozenset(included)
        )

    def extract(self, window: Window):
        """The window as a model of its own."""
        import onnx.utils

        model = onnx.utils.Extractor(self.model).extract_model(
            list(window.inputs), list(window.outputs)
        )
        # the types inside as the whole graph has them (the Extractor rewrites an open shape
        # as a scalar's)
        # and none for a value the window declares as an input or output (as in a whole
        # graph), which the importer would take over the declaration
        original = {v.name: v for v in self.model.graph.value_info}
        declared = {*window.inputs, *window.outputs}
        kept = [original.get(v.name, v) for v in model.graph.value_info if v.name not in declared]
        del model.graph.value_info[:]
        model.graph.value_info.extend(kept)
        _declare(model.graph.input, self.measured, concrete=True)
        _declare(model.graph.output, self.measured, concrete=True)
        return model

    def output_nodes(self) -> list[int]:
        """The positions of the nodes that make the graph's outputs, in order."""
        return sorted(
            {self.producer[o.name] for o in self.model.graph.output if o.name in self.producer}
        )


def reduce_windows(
    graph: OnnxGraph,
    fails: Callable[[Window], bool],
    *,
    start_hi: int | None = None,
    on_step: Callable[[str], None] = lambda text: None,
) -> Window | None:
    """The smallest window found that `fails`, or None where no window of the graph does."""
    cache: dict[Window, bool] = {}

    def check(window: Window) -> bool:
        if window not in cache:
            cache[window] = fails(window)
        return cache[window]

    # 1. a failing end: the first diverging node, else the outputs' nodes, earliest first
    ends = ([start_hi] if start_hi is not None else []) + graph.output_nodes()
    hi = next((h for h in ends if check(graph.window(0, h))), None)
    if hi is None:
        return None
    good = -1  # bisect the end: window(0, good) passes (-1: nothing), window(0, hi) fails
    while hi - good > 1:
        mid = (good + hi) // 2
        if check(graph.window(0, mid)):
            hi = mid
        else:
            good = mid
    on_step(f"the failure is made by node {hi} ({graph.nodes[hi].op_type})")
    # 2. bisect the start
    lo, bad = 0, hi + 1
    while bad - lo > 1:
        mid = (lo + bad) // 2
        if check(graph.window(mid, hi)):
            lo = mid
        else:
            bad = mid
    best = graph.window(lo, hi)
    on_step(f"nodes {lo}..{hi}: {len(best.nodes)} still fail")
    # 3. drop the other nodes one at a time, latest first, until none can go
    dropped: frozenset[int] = frozenset()
    changed = True
    while changed:
        changed = False
        for index in sorted(best.nodes - {hi} - graph.constants, reverse=True):
            candidate = graph.window(lo, hi, dropped | {index})
            if candidate.nodes != best.nodes and check(candidate):
                dropped, best, changed = dropped | {index}, candidate, True
                on_step(f"{len(best.nodes)} nodes still fail")
    return best


def _complete(info) -> bool:
    tensor = info.type.tensor_type
    return tensor.HasField("shape") and all(d.HasField("dim_value") for d in tensor.shape.dim)


def measured_shapes(model) -> dict[str, tuple[int, ...]]:
    """The shape of every value that shape inference leaves open (an output whose shape
    depends on an input's values, as a ReduceL1's with its axes as an input), measured once
    in onnxruntime on random inputs of the graph's own input types; {} where that fails."""
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import helper

    graph = model.graph
    known = {v.name: v for v in (*graph.value_info, *graph.output, *graph.input)}
    open_values = [
        v
        for node in graph.node
        for v in node.output
        if v and v in known and known[v].type.tensor_type.elem_type and not _complete(known[v])
    ]
    if not open_values:
        return {}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {o.name for o in probe.graph.output}
    for name in open_values:
        if name not in present:
            elem = known[name].type.tensor_type.elem_type
            probe.graph.output.append(helper.make_tensor_value_info(name, elem, None))
    try:
        session = onnxruntime.InferenceSession(
            probe.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        rng = np.random.default_rng(0)
        feeds = {}
        for i in session.get_inputs():
            shape = [d if isinstance(d, int) else 1 for d in i.shape]
            dtype = helper.tensor_dtype_to_np_dtype(known[i.name].type.tensor_type.elem_type)
            floating = np.issubdtype(dtype, np.floating)
            feeds[i.name] = (
                rng.standard_normal(shape).astype(dtype)
                if floating
                else rng.integers(0, 2, shape).astype(dtype)  # as verify draws them
            )
        names = [o.name for o in session.get_outputs()]
        values = dict(zip(names, session.run(None, feeds), strict=True))
    except Exception:  # noqa: BLE001 - the shapes stay open; those windows fail to cut
        return {}
    return {name: tuple(np.shape(values[name])) for name in open_values if name in values}


def _declare(values, measured: dict, concrete: bool) -> None:
    """Give each of a window's inputs and outputs whose shape inference left open its measured
    shape (`concrete`; else its rank, with open dims), as ONNX's checker requires of a graph's
    inputs and outputs. The values inside keep their open types, as in the whole graph (whose
    own outputs are declared with full shapes too): a failure that needs them still shows."""
    for info in values:
        if _complete(info) or info.name not in measured:
            continue
        tensor = info.type.tensor_type
        dims = measured[info.name]
        tensor.ClearField("shape")
        shape = tensor.shape
        for index, size in enumerate(dims):
            dim = shape.dim.add()
            if concrete:
                dim.dim_value = size
            else:
                dim.dim_param = f"{info.name}_{index}"
