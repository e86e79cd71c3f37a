"""`--dtype f16|bf16` for an ONNX model: its float32 compute retyped, as `model.to(dtype)` does
for a PyTorch module.

Every float32 tensor the graph holds or declares becomes the target type, in the main graph,
every subgraph (If/Loop/Scan bodies) and every local function: initializers, `Constant`
values, graph inputs, outputs and value_info, `Cast`'s `to`, the `dtype` of the generators
(RandomNormal, EyeLike, ...), and `ConstantOfShape`'s value, whose default is a float32 zero.
Integer and boolean tensors (ids, masks, shapes) stay as they are, so an attention mask or a
`Shape` chain is untouched. Finite float32 constants beyond f16's range saturate at its
largest finite value (the `-3.4e38` an f32 export writes for "masked" becomes -65504, as
transformers' `torch.finfo(dtype).min` would have written it), so a masked row of a softmax
stays a number rather than `-inf - -inf = NaN`.

Why not onnxconverter-common's `float16` pass: it has no bf16; by default it clamps every
constant into [1e-7, 1e4] in magnitude, which changes the model's numbers; and its default op
block list keeps the ops onnxruntime's CPU kernels lack in float32 behind Casts, a choice about
onnxruntime, not about the compiler this project feeds (notes/dtypes.md).

`reference` is the other direction, for the numerics: the retyped model's low-precision tensors
back in float32, exactly, so onnxruntime (whose CPU kernels are mostly float32) computes in f32
on the rounded weights and inputs the compiled model has.
"""

from __future__ import annotations

import numpy as np

#: --dtype name -> onnx.TensorProto element type
ONNX_TYPES = {"f32": 1, "f16": 10, "bf16": 16}  # TensorProto.FLOAT, FLOAT16, BFLOAT16
FLOAT = ONNX_TYPES["f32"]
#: INT attributes that name an element type, and the ops whose `dtype` defaults to float32
TYPE_ATTRIBUTES = ("to", "dtype", "output_dtype")
FLOAT_BY_DEFAULT = {"RandomNormal", "RandomUniform"}
#: op type -> input positions whose schema takes float32 only, so what feeds them (an
#: initializer, a Constant, a Cast, a graph input) stays float32: Resize's and Upsample's
#: `scales` (onnxruntime refuses an f16 one, and rounding a scale can change the output size).
#: Test: test_onnx_dtype.py::test_resize_scales_stay_float32.
FLOAT32_OPERANDS: dict[str, tuple[int, ...]] = {"Resize": (2,), "Upsample": (1,)}


def convert(model, dtype: str):
    """A copy of `model` computing in `dtype` (f16 or bf16) wherever it computed in float32."""
    return _retype(model, {FLOAT}, ONNX_TYPES[dtype])


def reference(model):
    """A copy of a converted `model` with its f16 and bf16 tensors back in float32 (those the
    original graph itself held in f16 too: the reference computes in float32 throughout)."""
    return _retype(model, {ONNX_TYPES["f16"], ONNX_TYPES["bf16"]}, FLOAT)


def reference_for(model, dtype: str):
    """What onnxruntime runs beside a model prepared for `--dtype`: the model itself in f32,
    else its float32 reference."""
    from frontend_mess.defaults import DEFAULT_MODEL_DTYPE

    return model if dtype == DEFAULT_MODEL_DTYPE else reference(model)


def _retype(model, sources: set[int], target: int):
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    retype = _Retype(sources, target)
    retype.graph(copy.graph)
    for function in copy.functions:
        keep = retype.float32_only(function.node)
        for node in function.node:
            if not node.output or not set(node.output) <= keep:
                retype.node(node)
        del function.value_info[:]
    return copy


class _Retype:
    def __init__(self, sources: set[int], target: int):
        from onnx import helper

        self.sources, self.target = sources, target
        self.numpy_type = helper.tensor_dtype_to_np_dtype(target)

    def graph(self, graph) -> None:
        keep = self.float32_only(graph.node)
        for tensor in graph.initializer:
            if tensor.name not in keep:
                self.tensor(tensor)
        for sparse in graph.sparse_initializer:
            self.tensor(sparse.values)
        for value in (*graph.input, *graph.output):
            if value.name not in keep:
                self.type(value.type)
        del graph.value_info[:]  # intermediate types: shape inference derives them anew
        for node in graph.node:
            if not node.output or not set(node.output) <= keep:
                self.node(node)

    def float32_only(self, nodes) -> set[str]:
        """Values feeding a FLOAT32_OPERANDS position (retyping to f16/bf16 only)."""
        if FLOAT not in self.sources:
            return set()
        return {
            node.input[position]
            for node in nodes
            for position in FLOAT32_OPERANDS.get(node.op_type, ())
            if position < len(node.input) and node.input[position]
        }

    def node(self, node) -> None:
        from onnx import AttributeProto, helper

        for attribute in list(node.attribute):
            if attribute.type == AttributeProto.TENSOR:
                self.tensor(attribute.t)
            elif attribute.type == AttributeProto.TENSORS:
                for tensor in attribute.tensors:
                    self.tensor(tensor)
            elif attribute.type == AttributeProto.SPARSE_TENSOR:
                self.tensor(attribute.sparse_tensor.values)
            elif attribute.type == AttributeProto.GRAPH:
                self.graph(attribute.g)
            elif attribute.type == AttributeProto.GRAPHS:
                for graph in attribute.graphs:
                    self.graph(graph)
            elif attribute.type == AttributeProto.INT and attribute.name in TYPE_ATTRIBUTES:
                if attribute.i in self.sources:
                    attribute.i = self.target
        names = {a.name for a in node.attribute}
        if FLOAT not in self.sources:
            return
        if node.op_type == "Constant" and names & {"value_float", "value_floats"}:
            attribute = next(a for a in node.attribute if a.name in ("value_float", "value_floats"))
            values = [attribute.f] if attribute.name == "value_float" else list(attribute.floats)
            shape = () if attribute.name == "value_float" else (len(values),)
            node.attribute.remove(attribute)
            array = np.asarray(values, np.float32).reshape(shape)
            node.attribute.append(helper.make_attribute("value", self.array(array, "value")))
        elif node.op_type == "ConstantOfShape" and "value" not in names:
            zero = self.array(np.zeros((1,), np.float32), "value")
            node.attribute.append(helper.make_attribute("value", zero))
        elif node.op_type in FLOAT_BY_DEFAULT and node.domain in ("", "ai.onnx"):
            if "dtype" not in names:
                node.attribute.append(helper.make_attribute("dtype", self.target))

    def type(self, type_proto) -> None:
        kind = type_proto.WhichOneof("value")
        if kind == "tensor_type" or kind == "sparse_tensor_type":
            tensor = getattr(type_proto, kind)
            if tensor.elem_type in self.sources:
                tensor.elem_type = self.target
        elif kind == "sequence_type":
            self.type(type_proto.sequence_type.elem_type)
        elif kind == "optional_type":
            self.type(type_proto.optional_type.elem_type)
        elif kind == "map_type":
            self.type(type_proto.map_type.value_type)

    def tensor(self, tensor) -> None:
        if tensor.data_type not in self.sources:
            return
        from onnx import numpy_helper

        tensor.CopyFrom(self.array(numpy_helper.to_array(tensor), tensor.name))

    def array(self, array: np.ndarray, name: str):
        """`array` in the target type, finite values saturated at its largest finite one."""
        from onnx import numpy_helper

        wide = array.astype(np.float32)
        largest = float(_finfo(self.numpy_type).max)
        finite = np.isfinite(wide)
        wide = np.where(finite, np.clip(wide, -largest, largest), wide)
        return numpy_helper.from_array(wide.astype(self.numpy_type), name)


def _finfo(numpy_type):
    import ml_dtypes

    return ml_dtypes.finfo(numpy_type)


def as_inputs_of(model, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """`arrays` in the element types `model`'s graph inputs declare, in order: an f16 input
    for the float32 reference, exactly, or a float32 draw rounded for the retyped model."""
    from onnx import helper

    from frontend_mess.importers.onnx_graph import graph_inputs

    types = [
        helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type) for v in graph_inputs(model)
    ]
    return [np.asarray(a).astype(t, copy=False) for a, t in zip(arrays, types, strict=True)]
