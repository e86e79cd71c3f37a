"""`--dtype f16|bf16` on an ONNX file (importers/onnx_dtype.py): every float32 tensor the graph
holds or declares retyped, integer ones kept, out-of-range constants saturated; the float32
reference onnxruntime runs beside it; verify against that reference with the dtype's tolerance.
Models: small graphs built here with onnx.helper, and a torch.onnx.export of a small convnet
with random weights."""

import ml_dtypes
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from frontend_mess.importers import onnx_dtype

TYPES = {"f16": TensorProto.FLOAT16, "bf16": TensorProto.BFLOAT16}
NUMPY = {"f16": np.float16, "bf16": ml_dtypes.bfloat16}


def _every_kind_of_float() -> onnx.ModelProto:
    """A float32 input, weight, Constant (value_float), ConstantOfShape with its float32 default,
    Cast to float32, and an If whose branches hold float32 constants; an int64 input beside."""
    twos = numpy_helper.from_array(np.float32([2.0] * 3))
    then_branch = helper.make_graph(
        [helper.make_node("Constant", [], ["t"], value=twos)],
        "then", [], [helper.make_tensor_value_info("t", TensorProto.FLOAT, [3])],
    )  # fmt: skip
    else_branch = helper.make_graph(
        [helper.make_node("Constant", [], ["e"], value_floats=[3.0, 3.0, 3.0])],
        "else", [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, [3])],
    )  # fmt: skip
    nodes = [
        helper.make_node("Cast", ["ids"], ["idsf"], to=TensorProto.FLOAT),
        helper.make_node("Constant", [], ["half"], value_float=0.5),
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("ConstantOfShape", ["shape"], ["zeros"]),
        helper.make_node("Mul", ["x", "w"], ["xw"]),
        helper.make_node("Mul", ["xw", "half"], ["xh"]),
        helper.make_node("Add", ["xh", "idsf"], ["s"]),
        helper.make_node("Add", ["s", "zeros"], ["z"]),
        helper.make_node("ReduceSum", ["ids"], ["total"], keepdims=0),
        helper.make_node("Greater", ["total", "zero"], ["cond"]),
        helper.make_node("If", ["cond"], ["branch"], then_branch=then_branch,
                         else_branch=else_branch),
        helper.make_node("Add", ["z", "branch"], ["y"]),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        initializer=[numpy_helper.from_array(np.float32([1.0, -2.0, 4.0]), "w"),
                     numpy_helper.from_array(np.int64(0), "zero")],
    )  # fmt: skip
    # opset 21: ConstantOfShape's schema takes bf16 from opset 20 (earlier ones only fail ONNX's
    # strict check; OnnxToTorch does not read the schemas' type lists)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def _float_types(model) -> set[int]:
    """Every element type the model names anywhere, integers left out."""
    found = set()
    for graph in _graphs(model.graph):
        found |= {t.data_type for t in graph.initializer}
        values = (*graph.input, *graph.output, *graph.value_info)
        found |= {v.type.tensor_type.elem_type for v in values}
        for node in graph.node:
            for a in node.attribute:
                if a.type == onnx.AttributeProto.TENSOR:
                    found.add(a.t.data_type)
                if a.name == "to":
                    found.add(a.i)
                if a.name in ("value_float", "value_floats"):
                    found.add(TensorProto.FLOAT)
            if node.op_type == "ConstantOfShape" and not node.attribute:
                found.add(TensorProto.FLOAT)  # its default value
    return found - {TensorProto.INT64, TensorProto.BOOL}


def _graphs(graph):
    yield graph
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(a.g)


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_every_float32_tensor_becomes_the_dtype_and_integers_stay(dtype):
    model = _every_kind_of_float()
    assert _float_types(model) == {TensorProto.FLOAT}
    converted = onnx.shape_inference.infer_shapes(onnx_dtype.convert(model, dtype))
    assert _float_types(converted) == {TYPES[dtype]}
    ids = next(i for i in converted.graph.input if i.name == "ids")
    assert ids.type.tensor_type.elem_type == TensorProto.INT64
    # ONNX's own strict check: every op's type constraints hold in the new type
    onnx.checker.check_model(converted, full_check=True)
    # the original is left as it was
    assert _float_types(model) == {TensorProto.FLOAT}


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_the_retyped_graph_computes_what_the_original_does(dtype):
    """onnx's reference evaluator on both graphs: equal within the dtype's rounding."""
    from onnx.reference import ReferenceEvaluator

    model = _every_kind_of_float()
    x = np.random.default_rng(0).standard_normal(3).astype(np.float32)
    ids = np.int64([1, 0, 2])
    (want,) = ReferenceEvaluator(model).run(None, {"x": x, "ids": ids})
    converted = onnx_dtype.convert(model, dtype)
    (got,) = ReferenceEvaluator(converted).run(None, {"x": x.astype(NUMPY[dtype]), "ids": ids})
    assert got.dtype == NUMPY[dtype]
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_out_of_range_constants_saturate_infinities_stay(dtype):
    values = np.float32([-3.4028235e38, 1e5, np.inf, -np.inf, 1.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "c"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])],
        initializer=[numpy_helper.from_array(values, "c")],
    )  # fmt: skip
    converted = onnx_dtype.convert(helper.make_model(graph), dtype)
    got = numpy_helper.to_array(converted.graph.initializer[0]).astype(np.float32)
    largest = float(ml_dtypes.finfo(NUMPY[dtype]).max)
    assert got[0] == -largest and got[2] == np.inf and got[3] == -np.inf and got[4] == 1.0
    assert got[1] == (largest if dtype == "f16" else np.float32(1e5).astype(NUMPY[dtype]))
    # a plain cast would have made the "masked" constant -inf (and 0 * -inf a NaN)
    assert values[:1].astype(NUMPY[dtype]).astype(np.float32)[0] == -np.inf


def test_the_reference_is_the_rounded_model_in_float32():
    model = _every_kind_of_float()
    reference = onnx_dtype.reference(onnx_dtype.convert(model, "f16"))
    assert _float_types(reference) == {TensorProto.FLOAT}
    weight = numpy_helper.to_array(next(t for t in reference.graph.initializer if t.name == "w"))
    original = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "w"))
    assert weight.dtype == np.float32
    assert np.array_equal(weight, original.astype(np.float16).astype(np.float32))


def _masked_softmax(path) -> None:
    """softmax(scores + (1 - mask) * float32.min): the additive mask every f32 export writes."""
    nodes = [
        helper.make_node("Cast", ["mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["one", "m"], ["inv"]),
        helper.make_node("Mul", ["inv", "lowest"], ["bias"]),
        helper.make_node("Add", ["scores", "bias"], ["biased"]),
        helper.make_node("Softmax", ["biased"], ["p"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "masked",
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [2, 8]),
         helper.make_tensor_value_info("mask", TensorProto.INT64, [2, 8])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, [2, 8])],
        initializer=[numpy_helper.from_array(np.float32(1.0), "one"),
                     numpy_helper.from_array(np.float32(np.finfo(np.float32).min), "lowest")],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


def test_a_masked_softmax_stays_a_number_in_f16(tmp_path):
    """float32.min is -inf in f16, and (1 - 1) * -inf is NaN on every unmasked position:
    saturated to f16's lowest, the compiled f16 softmax is finite and matches onnxruntime."""
    import frontend_mess

    path = tmp_path / "masked.onnx"
    _masked_softmax(path)
    report = frontend_mess.verify(str(path), dtype="f16")
    assert report.ok, report.text()
    module = frontend_mess.compile(str(path), dtype="f16").module()
    scores = np.random.default_rng(3).standard_normal((2, 8)).astype(np.float16)
    mask = np.ones((2, 8), np.int64)
    mask[:, 5:] = 0
    (p,) = module.call(module.default_function(), [scores, mask])
    p = np.asarray(p, np.float32)
    assert np.isfinite(p).all() and np.all(p[:, 5:] == 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-2)


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.norm = torch.nn.LayerNorm(8)
        self.head = torch.nn.Linear(8, 5)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.conv(x)).mean((2, 3))
        return self.head(self.norm(h)).softmax(-1)


def _export(path, seed: int) -> None:
    torch.manual_seed(seed)
    torch.onnx.export(_Net().eval(), (torch.randn(2, 3, 16, 16),), str(path), dynamo=False)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_an_onnx_file_verifies_in_the_dtype(tmp_path, dtype):
    """The compiled module takes and returns the dtype, matches onnxruntime's float32 run of the
    rounded model within the dtype's tolerance, and is far outside it against another seed's
    weights (the check can fail)."""
    import frontend_mess
    from frontend_mess.api import make_options
    from frontend_mess.defaults import VERIFY_TOLERANCES
    from frontend_mess.pipeline import load
    from frontend_mess.verify import onnx_checks

    path, other = tmp_path / "net.onnx", tmp_path / "other.onnx"
    _export(path, 0)
    _export(other, 1)
    report = frontend_mess.verify(str(path), dtype=dtype)
    assert report.ok, report.text()
    assert (report.rtol, report.atol) == VERIFY_TOLERANCES[dtype]
    assert all(c.max_abs > 0 for c in report.checks)  # computed in the dtype, not in f32
    module = frontend_mess.compile(str(path), dtype=dtype).module()
    signature = module.signature(module.default_function())
    assert [t.dtype for t in signature.inputs] == [dtype] == [t.dtype for t in signature.outputs]
    wrong = load(str(other), make_options(dtype=dtype)).onnx_reference()
    rtol, atol = VERIFY_TOLERANCES[dtype]
    assert not any(c.ok for c in onnx_checks(wrong, module, seed=1, rtol=rtol, atol=atol))


@pytest.mark.slow
def test_bench_an_onnx_file_in_bf16(tmp_path, capsys):
    """bench times the bf16 artifact beside onnxruntime on verify's float32 reference (the
    retyped graph's rounded weights, inputs widened exactly), and both pass the numerics."""
    import json

    from frontend_mess.cli import main

    path = tmp_path / "net.onnx"
    _export(path, 0)
    argv = ["bench", str(path), "--dtype", "bf16", "--rounds", "2", "--cold-runs", "1", "--json"]
    assert main([*argv, "-q"]) == 0
    rows = {r["runtime"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert set(rows) == {"iree", "onnxruntime"}
    for name, row in rows.items():
        assert row["error"] is None and row["numerics_ok"] is True, (name, row)


@pytest.mark.slow
def test_localize_an_onnx_file_in_f16(tmp_path):
    """verify --localize under --dtype: every intermediate value of the f16 graph against
    onnxruntime's float32 reference of it, within f16's tolerance."""
    from frontend_mess.api import make_options
    from frontend_mess.backend.targets import target_spec
    from frontend_mess.defaults import VERIFY_TOLERANCES
    from frontend_mess.localize import localize
    from frontend_mess.pipeline import load

    path = tmp_path / "net.onnx"
    _export(path, 0)
    rtol, atol = VERIFY_TOLERANCES["f16"]
    loaded = load(str(path), make_options(dtype="f16"))
    result = localize(loaded, target_spec("llvm-cpu"), seed=1, rtol=rtol, atol=atol)
    assert result.ok and len(result.ops) >= 5, result.text()
    assert any(op.check.max_abs > 0 for op in result.ops)  # computed in f16


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_resize_scales_stay_float32(dtype):
    """Resize's `scales` takes float32 only (onnx_dtype.FLOAT32_OPERANDS): the initializer
    feeding it keeps its type, the data is retyped, and ONNX's strict check holds."""
    graph = helper.make_graph(
        [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")], "up",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])],
        initializer=[numpy_helper.from_array(np.float32([1, 1, 2, 2]), "scales")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    converted = onnx.shape_inference.infer_shapes(onnx_dtype.convert(model, dtype))
    assert converted.graph.initializer[0].data_type == TensorProto.FLOAT
    assert converted.graph.input[0].type.tensor_type.elem_type == TYPES[dtype]
    onnx.checker.check_model(converted, full_check=True)
