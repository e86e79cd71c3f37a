"""Expand chosen ONNX function ops (ONNX_EXPAND_FUNCTIONS) into their function bodies, with
onnx's own tools: the schema's function (context-dependent where ONNX makes it so) becomes a
model-local function, and `onnx.inliner` inlines it.

Why here and not in the importer: torch-mlir's importer can expand function ops too
(`Config.function_expansion_allowlists_by_domain`), but it does so after the graph has left
ONNX, so what the body computes from `Shape` (RMSNormalization's `axes`) stays a runtime value
that OnnxToTorch cannot lower. Expanded in ONNX, the constant folder that runs next
(onnx_graph.fold_constants) makes it a constant. Test: test_onnx.py::test_function_ops_expand.
"""

from __future__ import annotations

from frontend_mess.defaults import ONNX_EXPAND_FUNCTIONS

#: the domain of the local functions made here; inlining leaves none of them in the model.
_DOMAIN = "frontend_mess.expanded"
#: an expanded body may hold another chosen op (SoftmaxCrossEntropyLoss holds
#: NegativeLogLikelihoodLoss): expand again, this many rounds at most.
_ROUNDS = 4


def expand(model):
    """The model with every chosen function op replaced by its body (a new ModelProto)."""
    import onnx
    import onnx.inliner

    for _ in range(_ROUNDS):
        if not _make_local_functions(model):
            break
        model = onnx.inliner.inline_local_functions(model, convert_version=True)
        model = onnx.shape_inference.infer_shapes(model)
    return model


def _types(model) -> dict:
    """value name -> TypeProto, for what the shape inference knows."""
    import onnx

    graph = model.graph
    types = {v.name: v.type for v in [*graph.input, *graph.value_info, *graph.output]}
    for tensor in graph.initializer:
        types.setdefault(
            tensor.name,
            onnx.helper.make_tensor_type_proto(tensor.data_type, list(tensor.dims)),
        )
    return types


def _opset(model, domain: str) -> int:
    return next((o.version for o in model.opset_import if o.domain in (domain, "ai.onnx")), 0)


def _make_local_functions(model) -> int:
    """Point each chosen node of the main graph at a local copy of its schema's function;
    returns how many were made."""
    import onnx

    types = _types(model)
    made = 0
    for index, node in enumerate(model.graph.node):
        domain = node.domain if node.domain != "ai.onnx" else ""
        if node.op_type not in ONNX_EXPAND_FUNCTIONS.get(domain, ()):
            continue
        version = _opset(model, domain)
        function = _function_of(node, domain, version, types)
        if function is None:
            continue
        function.domain = _DOMAIN
        function.name = f"{node.op_type}_{index}"
        node.domain, node.op_type = _DOMAIN, function.name
        model.functions.append(function)
        made += 1
    if made and not any(o.domain == _DOMAIN for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid(_DOMAIN, 1))
    return made


def _function_of(node, domain: str, version: int, types: dict):
    """The schema's FunctionProto for this node at this opset, or None where ONNX has none or
    the inputs' types are unknown (a context-dependent body is built from them)."""
    import onnx

    try:
        schema = onnx.defs.get_schema(node.op_type, max_inclusive_version=version, domain=domain)
    except onnx.defs.SchemaError:
        return None
    plain = max((v for v in schema.function_opset_versions if v <= version), default=None)
    dependent = max(
        (v for v in schema.context_dependent_function_opset_versions if v <= version),
        default=None,
    )
    if plain is not None and (dependent is None or dependent < plain):
        body = schema.get_function_with_opset_version(plain)
    elif dependent is not None:
        if any(name and name not in types for name in node.input):
            return None
        input_types = [
            types[name].SerializeToString() if name else onnx.TypeProto().SerializeToString()
            for name in node.input
        ]
        body = schema.get_context_dependent_function_with_opset_version(
            dependent, node.SerializeToString(), input_types
        )
    else:
        return None
    if not body:
        return None
    function = onnx.FunctionProto()
    function.ParseFromString(body)
    return function
