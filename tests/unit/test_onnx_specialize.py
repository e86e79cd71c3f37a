"""Graph inputs the compiler needs as constants (importers/onnx_specialize.py): which ones, the
upstream failure without binding them, the ONNX Backend compiling per bound value, and the
matrix's onnx-node cells recording what they bound. Models: small ReduceSum/ReduceMax graphs
built here with onnx.helper, and onnx's own Reduce* conformance cases."""

import io
import unittest

import numpy as np
import onnx
import onnx.backend.test
import pytest
from onnx import TensorProto, helper, numpy_helper

from frontend_mess.importers.onnx_specialize import bind, constant_inputs, split


def _reduce(op: str = "ReduceSum", axes_initializer: bool = False) -> onnx.ModelProto:
    """y = op(x, axes, keepdims=0) with x 3x4x5 float32 and axes an int64 input (or weight)."""
    axes = helper.make_tensor_value_info("axes", TensorProto.INT64, [1])
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4, 5])]
    initializers = []
    if axes_initializer:
        initializers.append(numpy_helper.from_array(np.int64([1]), "axes"))
    else:
        inputs.append(axes)
    graph = helper.make_graph(
        [helper.make_node(op, ["x", "axes"], ["y"], keepdims=0)], "reduce", inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", "n"])],
        initializer=initializers,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_only_inputs_feeding_a_constant_operand_are_bound():
    assert constant_inputs(_reduce()) == ["axes"]
    assert constant_inputs(_reduce("ReduceMax")) == ["axes"]
    assert constant_inputs(_reduce(axes_initializer=True)) == []  # a weight already
    relu = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )  # fmt: skip
    assert constant_inputs(helper.make_model(relu)) == []


def test_binding_makes_the_input_a_weight_and_split_drops_it_from_a_run():
    model = _reduce()
    bound = bind(model, {"axes": np.int64([2])})
    assert [i.name for i in bound.graph.input] == ["x"]
    assert numpy_helper.to_array(bound.graph.initializer[0]).tolist() == [2]
    onnx.checker.check_model(bound, full_check=True)
    assert [i.name for i in model.graph.input] == ["x", "axes"]  # the original is kept
    x = np.ones((3, 4, 5), np.float32)
    values, rest = split(model, ["axes"], [x, np.int64([2])])
    assert list(values) == ["axes"] and len(rest) == 1 and rest[0] is x


def test_without_binding_iree_cannot_lower_a_runtime_axis_list():
    """The upstream failure the binding avoids: OnnxToTorch makes `aten.sum.dim_IntList` over
    a dim list read from a tensor, which torch-to-linalg cannot lower. If this compiles one
    day, the binding (and CONSTANT_OPERANDS' entry) can go."""
    from frontend_mess import pipeline
    from frontend_mess.backend.targets import target_spec
    from frontend_mess.support.errors import CompileError

    loaded = pipeline.load(_reduce())
    with pytest.raises(CompileError, match="torch.aten.sum.dim_IntList"):
        pipeline.compile_loaded(loaded, target_spec("llvm-cpu"))


@pytest.mark.slow
def test_the_backend_compiles_one_program_per_bound_value():
    from frontend_mess.onnx_backend import IreeBackend, SpecializingRep

    rep = IreeBackend.prepare(_reduce(), "CPU")
    assert isinstance(rep, SpecializingRep) and rep.bound == ["axes"]
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    for axis in (1, 0, 1):
        (y,) = rep.run([x, np.int64([axis])])
        np.testing.assert_allclose(y, x.sum(axis=axis), rtol=1e-5, atol=1e-6)
    assert len(rep.programs) == 2  # axis 1's program was kept for its second run


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_onnx_backend_test_runner_passes_reduce_cases_with_axes_inputs():
    """onnx's own BackendTest on Reduce* cases whose axes are a graph input (they failed to
    compile before: reports/matrix-onnx-node.jsonl's `torch.aten.sum.dim_IntList` class)."""
    from frontend_mess.onnx_backend import IreeBackend

    runner = onnx.backend.test.BackendTest(IreeBackend, __name__)
    cases = ("reduce_sum_keepdims_random", "reduce_max_do_not_keepdims_example",
             "reduce_l2_negative_axes_keep_dims_random_expanded")  # fmt: skip
    for name in cases:
        runner.include(f"^test_{name}_cpu$")
    result = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(runner.test_suite)
    assert result.testsRun - len(result.skipped) == len(cases)
    assert not result.errors and not result.failures, result.errors + result.failures


@pytest.mark.slow
def test_a_node_cell_records_what_it_bound():
    from frontend_mess.matrix.cell import run_cell

    cell = {"suite": "onnx-node", "source": "test_reduce_mean_keepdims_random",
            "path": "onnx", "target": "llvm-cpu"}  # fmt: skip
    record = run_cell(cell)
    assert record["status"] == "pass", record["error"]
    assert record["specialized"] == ["axes"]
    plain = run_cell({**cell, "source": "test_relu"})
    assert plain["status"] == "pass" and "specialized" not in plain


def test_cases_whose_data_sets_disagree_are_not_bound():
    from frontend_mess.matrix.cell import _specialized
    from frontend_mess.matrix.onnx_node import NodeCase

    x = np.ones((3, 4, 5), np.float32)
    same = NodeCase("c", _reduce(), [([x, np.int64([1])], []), ([x, np.int64([1])], [])], 0, 0)
    names, model = _specialized(same)
    assert names == ["axes"] and [i.name for i in model.graph.input] == ["x"]
    differ = NodeCase("c", _reduce(), [([x, np.int64([1])], []), ([x, np.int64([0])], [])], 0, 0)
    assert _specialized(differ) == ([], differ.model)


def test_the_matrix_page_counts_bound_passes():
    from frontend_mess.matrix.report import summary_markdown

    base = {"suite": "onnx-node", "path": "onnx", "target": "llvm-cpu", "stage": "",
            "error": "", "error_class": ""}  # fmt: skip
    records = [
        {**base, "source": "a", "status": "pass", "specialized": ["axes"]},
        {**base, "source": "b", "status": "pass"},
        {
            **base,
            "source": "c",
            "status": "compile-fail",
            "specialized": ["axes"],
            "error_class": "x",
        },  # fmt: skip
    ]
    text = summary_markdown(records)
    assert "1 pass compiled with graph inputs the compiler needs as constants" in text
    assert "`axes` 1" in text


def test_bind_on_the_command_line_makes_the_file_compile_and_verify(tmp_path):
    """`--bind axes=2` (SourceOptions.bound): the input becomes that constant before import,
    so the module takes only `x` and matches onnxruntime on the same bound graph."""
    import frontend_mess

    path = tmp_path / "reduce.onnx"
    onnx.save(_reduce(), path)
    report = frontend_mess.verify(str(path), bind={"axes": [2]})
    assert report.ok, report.text()
    module = frontend_mess.compile(str(path), bind={"axes": [2]}).module()
    signature = module.signature(module.default_function())
    assert [t.shape for t in signature.inputs] == [(3, 4, 5)]
    assert [t.shape for t in signature.outputs] == [(3, 4)]


@pytest.mark.parametrize(
    ("bind", "message"),
    [
        ({"axis": [1]}, "has no input 'axis' to --bind: its inputs are x, axes"),
        ({"axes": [0, 1]}, "which 2 integer\\(s\\) do not fill"),
        ({"x": [1]}, "input 'x' of .* is float32"),
    ],
)
def test_bind_refuses_what_it_cannot_bind(tmp_path, bind, message):
    from frontend_mess.api import make_options
    from frontend_mess.pipeline import load
    from frontend_mess.support.errors import FrontendError

    path = tmp_path / "reduce.onnx"
    onnx.save(_reduce(), path)
    with pytest.raises(FrontendError, match=message):
        load(str(path), make_options(bind=bind))


def test_bind_is_refused_for_a_pytorch_source(inputs_dir):
    from frontend_mess.api import make_options
    from frontend_mess.pipeline import load
    from frontend_mess.support.errors import FrontendError

    with pytest.raises(FrontendError, match="--bind applies to ONNX models"):
        load(str(inputs_dir / "mlp.py"), make_options(bind={"axes": [1]}))


@pytest.mark.slow
def test_bench_runs_onnxruntime_on_the_bound_graph(tmp_path, capsys):
    """bench with --bind: onnxruntime runs the prepared graph with the same constants (the
    file itself would want the bound input too), and both rows pass the numerics."""
    import json

    from frontend_mess.cli import main

    path = tmp_path / "reduce.onnx"
    onnx.save(_reduce(), path)
    argv = ["bench", str(path), "--bind", "axes=1", "--rounds", "2", "--cold-runs", "1"]
    assert main([*argv, "--json", "-q"]) == 0
    rows = {r["runtime"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert set(rows) == {"iree", "onnxruntime"}
    assert all(r["error"] is None and r["numerics_ok"] for r in rows.values()), rows


def _reduce_with_axes(axes_value_info) -> onnx.ModelProto:
    model = _reduce()
    model.graph.input[1].CopyFrom(axes_value_info)
    return model


def test_bind_takes_the_declared_rank():
    """An axes input of unknown rank is bound as a list (Reduce axes are 1-D); a declared
    scalar takes exactly one integer, and two are one clear error, not NumPy's."""
    from frontend_mess.importers.onnx_specialize import bind_given
    from frontend_mess.support.errors import FrontendError

    unknown = helper.make_tensor_value_info("axes", TensorProto.INT64, None)
    bound = bind_given(_reduce_with_axes(unknown), {"axes": [0, 1]}, "m.onnx")
    assert numpy_helper.to_array(bound.graph.initializer[-1]).shape == (2,)
    scalar = helper.make_tensor_value_info("axes", TensorProto.INT64, [])
    bound = bind_given(_reduce_with_axes(scalar), {"axes": [1]}, "m.onnx")
    assert numpy_helper.to_array(bound.graph.initializer[-1]).shape == ()
    with pytest.raises(FrontendError, match="shape scalar, which 2 integer"):
        bind_given(_reduce_with_axes(scalar), {"axes": [0, 1]}, "m.onnx")


def test_an_axes_input_read_inside_a_branch_is_found():
    body = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["r"], keepdims=0)], "then", [],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, None)],
    )  # fmt: skip
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=body)], "g",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4]),
         helper.make_tensor_value_info("axes", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )  # fmt: skip
    assert constant_inputs(helper.make_model(graph)) == ["axes"]
