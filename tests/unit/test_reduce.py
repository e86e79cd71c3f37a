"""`frontend-mess reduce` (frontend_mess/reduce/): the window search on a fake oracle, and
a real 49-node graph with one failing op reduced to the few nodes that fail the same way,
written as a repro that fails the same way again."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from frontend_mess.reduce.graph import OnnxGraph, reduce_windows
from frontend_mess.reduce.run import cell_of_record
from frontend_mess.support.errors import FrontendError


def chain(length: int = 48, bad_at: int = 30) -> onnx.ModelProto:
    """MatMul, Relu, Tanh, ... with, at `bad_at`, a ReduceL1 whose axes are a graph input
    added back to the chain: torch-mlir's ONNX importer gives its open-shaped result a
    scalar's type, and the conversion to linalg then fails on it (the compile stage)."""
    rng = np.random.default_rng(0)
    nodes, weights, value = [], [], "x"
    for i in range(length):
        out = f"v{i}"
        if i == bad_at:
            nodes.append(helper.make_node("ReduceL1", [value, "axes"], ["r"], name="reduce_l1"))
            nodes.append(helper.make_node("Add", [value, "r"], [out], name="add"))
        elif i % 3 == 0:
            weight = rng.standard_normal((8, 8)).astype(np.float32)
            weights.append(numpy_helper.from_array(weight, f"w{i}"))
            nodes.append(helper.make_node("MatMul", [value, f"w{i}"], [out], name=f"mm{i}"))
        else:
            op = "Relu" if i % 3 == 1 else "Tanh"
            nodes.append(helper.make_node(op, [value], [out], name=f"{op.lower()}{i}"))
        value = out
    graph = helper.make_graph(
        nodes,
        "chain",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8]),
            helper.make_tensor_value_info("axes", TensorProto.INT64, [1]),
        ],
        [helper.make_tensor_value_info(value, TensorProto.FLOAT, [4, 8])],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_the_search_ends_on_the_window_the_oracle_needs():
    graph = OnnxGraph(chain())
    bad = next(i for i, n in enumerate(graph.nodes) if n.op_type == "ReduceL1")
    asked = []

    def fails(window) -> bool:  # fails while the ReduceL1 and the node after it are in
        asked.append(window)
        return {bad, bad + 1} <= window.nodes

    best = reduce_windows(graph, fails)
    assert best is not None and best.nodes == {bad, bad + 1}
    assert set(best.inputs) == {"v29", "axes"} and best.outputs == ("v30",)
    # bisection, not one candidate per node
    assert len(asked) < 2 * len(graph.nodes) // 3
    model = graph.extract(best)
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == ["ReduceL1", "Add"]


def test_no_window_fails_when_the_oracle_never_does():
    assert reduce_windows(OnnxGraph(chain()), lambda window: False) is None


def test_a_constant_node_is_never_cut_off():
    model = chain(6, bad_at=99)
    axis = helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array([1])))
    model.graph.node.insert(0, axis)
    model.graph.node.append(helper.make_node("ReduceSum", ["v5", "k"], ["s"], name="sum"))
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info("s", TensorProto.FLOAT, [4, 1]))
    graph = OnnxGraph(model)
    last = len(graph.nodes) - 1
    window = graph.window(last, last)
    assert window.inputs == ("v5",) and window.nodes == {0, last}


def test_a_cell_is_read_from_a_report_line(tmp_path):
    record = {
        "suite": "onnx-models",
        "source": "a/model.onnx",
        "path": "onnx",
        "target": "llvm-cpu",
    }
    report = tmp_path / "r.jsonl"
    report.write_text(json.dumps({**record, "status": "compile-fail"}) + "\n")
    assert cell_of_record(f"{report}:1") == (record, ("compile-fail", "", ""))
    assert cell_of_record(json.dumps(record)) == (record, None)
    with pytest.raises(FrontendError, match="has 1 lines, not line 2"):
        cell_of_record(f"{report}:2")
    with pytest.raises(FrontendError, match="names suite, source, path and target"):
        cell_of_record('{"source": "x"}')


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "frontend_mess", *args], capture_output=True, text=True
    )


def test_reduce_refuses_a_source_that_passes_and_a_torch_cell(tmp_path):
    model = chain(6, bad_at=99)
    onnx.save(model, tmp_path / "fine.onnx")
    done = _cli("reduce", str(tmp_path / "fine.onnx"), "-o", str(tmp_path / "r"), "-q")
    assert done.returncode == 2 and "there is no failure to reduce" in done.stderr
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    cell = {"suite": "torchvision", "source": "resnet18", "path": "onnx", "target": "llvm-cpu"}
    done = _cli("reduce", "--cell", json.dumps(cell), "-o", str(tmp_path / "t"), "-q")
    assert done.returncode == 2 and "reduce takes ONNX graphs via onnx" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    # a report's passing record of an FX path: nothing to reduce, said before any work
    record = {**cell, "path": "fx-linalg", "status": "pass", "stage": "", "error_class": ""}
    done = _cli("reduce", "--cell", json.dumps(record), "-o", str(tmp_path / "p"), "-q")
    assert done.returncode == 2 and "there is no failure to reduce" in done.stderr
    # a record failing past the stages reduce rebuilds (here a mismatch)
    record.update(status="mismatch", stage="compare", error_class="mismatch")
    done = _cli("reduce", "--cell", json.dumps(record), "-o", str(tmp_path / "m"), "-q")
    assert done.returncode == 2 and "verify --localize" in done.stderr


@pytest.mark.slow
def test_a_compile_failure_of_a_49_node_graph_reduces_to_two_nodes(tmp_path):
    onnx.save(chain(), tmp_path / "chain.onnx")
    repro = tmp_path / "repro"
    done = _cli("reduce", str(tmp_path / "chain.onnx"), "-o", str(repro), "-q")
    assert done.returncode == 0, done.stderr
    info = json.loads((repro / "repro.json").read_text())
    assert info["original"]["ops"] == 49
    assert info["reduced"]["op_types"] == ["ReduceL1", "Add"]
    assert info["reduced"]["ops"] <= info["original"]["ops"] / 10
    assert info["failure"]["error_class"] == "torch.aten.sum.dim_IntList"
    issue = (repro / "ISSUE.md").read_text()
    assert info["command"] in issue and "ReduceL1" in issue
    assert "Upstream: torch-mlir" in issue  # an op torch-mlir's conversion left
    # the repro fails the same way when run by its own command
    again = _cli("verify", str(repro / "model.onnx"), "--via", "onnx", "-q")
    assert again.returncode == 3, again.stderr
    assert "torch.aten.sum.dim_IntList" in again.stderr


@pytest.mark.slow
def test_an_onnx_node_case_is_its_own_repro_with_its_data(tmp_path):
    """A conformance case is judged by its own outputs, so it is not cut (a part would be
    judged by onnxruntime's): its repro is the case as its cell runs it, its data set, and
    the command that shows the failure from the directory. The case is one whose float8
    Cast torch-mlir does not convert (reports/matrix-onnx-node.jsonl)."""
    cell = {"suite": "onnx-node", "source": "test_cast_FLOAT16_to_FLOAT8E4M3FN"}
    cell.update(path="onnx", target="llvm-cpu", status="compile-fail", stage="compile")
    cell["error_class"] = "onnx.Cast"
    repro = tmp_path / "repro"
    done = _cli("reduce", "--cell", json.dumps(cell), "-o", str(repro), "-q")
    assert done.returncode == 0, done.stderr
    info = json.loads((repro / "repro.json").read_text())
    assert info["candidates_run"] == 0 and info["reduced"]["op_types"] == ["Cast"]
    assert info["command"].startswith("frontend-mess compile model.onnx --via onnx")
    model = onnx.load(repro / "model.onnx")
    tensor = onnx.TensorProto()
    tensor.ParseFromString((repro / "test_data_set_0" / "input_0.pb").read_bytes())
    declared = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert list(tensor.dims) == declared
    assert "conformance case test_cast_FLOAT16_to_FLOAT8E4M3FN" in (repro / "ISSUE.md").read_text()
    argv = info["command"].split()[1:]
    again = subprocess.run(
        [sys.executable, "-m", "frontend_mess", *argv, "-q"],
        cwd=repro,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 3 and "onnx.Cast" in again.stderr, again.stderr
    assert not (repro / "model.vmfb").exists()


def test_an_integer_value_is_never_cut_off():
    """A computed shape (Shape -> Reshape) stays computed: as a random input it would be a
    different program (or one onnxruntime rejects)."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu"),
        helper.make_node("Shape", ["a"], ["s"], name="shape"),
        helper.make_node("Tanh", ["a"], ["b"], name="tanh"),
        helper.make_node("Reshape", ["b", "s"], ["y"], name="reshape"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    model = OnnxGraph(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    window = model.window(3, 3)
    assert window.inputs == ("a", "b") and window.nodes == {1, 3}  # Shape kept, on input a
