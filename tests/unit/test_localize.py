"""`verify --localize` (localize.py): an injected numerical bug in the compiled program is
named as the first diverging op, in ONNX graphs and in FX graphs, and a correct program has
none."""

from __future__ import annotations

import numpy as np
import pytest

from frontend_mess import pipeline
from frontend_mess.backend.targets import target_spec
from frontend_mess.defaults import VERIFY_ATOL, VERIFY_RTOL
from frontend_mess.importers import fx as fx_importer
from frontend_mess.importers import onnx_graph
from frontend_mess.localize import exposed_onnx, localize

torch = pytest.importorskip("torch")


def _localize(loaded, via=None):
    return localize(
        loaded, target_spec("llvm-cpu"), via=via, seed=3, rtol=VERIFY_RTOL, atol=VERIFY_ATOL
    )


class _Mlp(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = torch.nn.Linear(8, 16)
        self.act = torch.nn.ReLU()
        self.second = torch.nn.Linear(16, 16)
        self.last = torch.nn.Linear(16, 4)

    def forward(self, x):
        return torch.tanh(self.last(torch.sigmoid(self.second(self.act(self.first(x))))))


def _swap_in_prepared(monkeypatch, old, new) -> None:
    """The injected bug: the compiled program computes `new` where the model has `old` (the
    graph the importer sees is changed after torch's decompositions; eager is not)."""
    prepare = fx_importer.prepare

    def buggy(program, *args, **kwargs):
        program = prepare(program, *args, **kwargs)
        for node in program.graph.nodes:
            if node.target == old:
                node.target = new
        program.graph_module.recompile()
        return program

    monkeypatch.setattr(fx_importer, "prepare", buggy)


@pytest.mark.slow
def test_a_correct_fx_program_has_no_diverging_op():
    loaded = pipeline.load(_Mlp(), example_args=(torch.randn(2, 8),))
    result = _localize(loaded, "fx-linalg")
    # every ATen op with a tensor result is compared: 3 linear, relu, sigmoid, tanh
    assert [o.op.split(".")[1] for o in result.ops] == [
        "linear",
        "relu",
        "linear",
        "sigmoid",
        "linear",
        "tanh",
    ]
    assert result.ok, result.text()


def test_an_injected_bug_is_named_as_the_first_diverging_fx_op(monkeypatch):
    aten = torch.ops.aten
    _swap_in_prepared(monkeypatch, aten.sigmoid.default, aten.tanh.default)
    loaded = pipeline.load(_Mlp(), example_args=(torch.randn(2, 8),))
    result = _localize(loaded, "fx-linalg")
    first = result.first
    assert first is not None, result.text()
    assert first.op == "aten.sigmoid.default" and first.where == "the model"
    assert [o.op.split(".")[1] for o in result.ops if not o.check.ok][0] == "sigmoid"
    assert result.ops.index(first) == 3  # linear, relu and linear before it agree
    assert "first diverging op: aten.sigmoid.default" in result.text()


def _onnx_chain():
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((6, 6)).astype(np.float32), "w")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h1"], name="mm"),
        helper.make_node("Relu", ["h1"], ["h2"], name="relu"),
        helper.make_node("Exp", ["h2"], ["h3"], name="exp"),
        helper.make_node("Neg", ["h3"], ["h4"], name="neg"),
        helper.make_node("Sigmoid", ["h4"], ["y"], name="sigmoid"),
    ]
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 6])],
        [weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_every_onnx_node_output_becomes_an_output():
    exposed, probes = exposed_onnx(_onnx_chain())
    assert [o.name for o in exposed.graph.output] == ["y", "h1", "h2", "h3", "h4"]
    assert [(i, name) for i, _, name in probes] == [
        (0, "h1"),
        (1, "h2"),
        (2, "h3"),
        (3, "h4"),
        (4, "y"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("via", ["onnx", "onnx-iree"])
def test_an_injected_bug_is_named_as_the_first_diverging_onnx_node(monkeypatch, via):
    to_mlir = onnx_graph.to_mlir

    def buggy(model, *args, **kwargs):  # the compiled side takes Exp for Neg
        import onnx

        changed = onnx.ModelProto()
        changed.CopyFrom(model)
        for node in changed.graph.node:
            if node.op_type == "Neg":
                node.op_type = "Exp"
        return to_mlir(changed, *args, **kwargs)

    clean = _localize(pipeline.load(_onnx_chain()), via)
    assert clean.ok and len(clean.ops) == 5, clean.text()
    monkeypatch.setattr(onnx_graph, "to_mlir", buggy)
    result = _localize(pipeline.load(_onnx_chain()), via)
    assert result.first is not None, result.text()
    assert (result.first.op, result.first.node, result.first.where) == ("Neg", "neg", "h4")
    assert [o.check.ok for o in result.ops] == [True, True, True, False, False]


def test_mlir_has_no_graph_to_localize(tmp_path):
    from frontend_mess.support.errors import FrontendError

    path = tmp_path / "m.mlir"
    path.write_text(
        "func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> { return %a : tensor<2xf32> }"
    )
    with pytest.raises(FrontendError, match="is MLIR: there is no framework graph"):
        _localize(pipeline.load(str(path)))
