"""ONNX importer: the wheel's shipped models, a torch.onnx.export round trip, shapes, errors."""

from pathlib import Path

import onnx
import pytest
import torch
import torchvision

import frontend_mess
from frontend_mess.defaults import MIN_ONNX_OPSET, ONNX_IMPORTERS
from frontend_mess.importers import onnx_graph as onnx_importer
from frontend_mess.support.errors import FrontendError

pytestmark = pytest.mark.slow

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
LIGHT = sorted((DATA / "light").glob("*.onnx"))


@pytest.mark.parametrize("path", LIGHT[:3] + LIGHT[-2:], ids=lambda p: p.stem)
def test_shipped_light_models_import_to_linalg(path):
    model = frontend_mess.import_model(str(path), to="linalg")
    assert "linalg.conv_2d_nchw_fchw" in model.text
    assert not [op for op in model.stats() if op.startswith("torch.")]


def test_old_opsets_are_upgraded():
    path = DATA / "light" / "light_squeezenet.onnx"
    assert onnx_importer.default_opset(onnx.load(str(path))) < MIN_ONNX_OPSET
    assert onnx_importer.default_opset(onnx_importer.load(path)) == MIN_ONNX_OPSET


@pytest.mark.parametrize("importer", ONNX_IMPORTERS)
def test_torchvision_round_trip(importer, tmp_path):
    path = tmp_path / "mobilenet.onnx"
    torch.onnx.export(
        torchvision.models.mobilenet_v3_small().eval(),
        (torch.randn(1, 3, 224, 224),),
        str(path),
        dynamo=False,
    )
    model = frontend_mess.import_model(str(path), to="linalg", onnx_importer_name=importer)
    assert "linalg.conv_2d_nchw_fchw" in model.text
    assert "tensor<1x3x224x224xf32>" in model.text


def test_dynamic_dims_stay_dynamic_unless_fixed(tmp_path):
    path = tmp_path / "lin.onnx"
    torch.onnx.export(
        torch.nn.Linear(4, 3),
        (torch.randn(2, 4),),
        str(path),
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
        dynamo=False,
    )
    assert "tensor<?x4xf32>" in frontend_mess.import_model(str(path), to="linalg").text
    fixed = frontend_mess.import_model(str(path), to="linalg", input_shapes=["x=5x4"])
    assert "tensor<5x4xf32>" in fixed.text


def test_raw_kind_keeps_onnx_operators():
    model = frontend_mess.import_model(str(DATA / "light" / "light_squeezenet.onnx"), to="raw")
    assert 'torch.operator "onnx.Conv"' in model.text


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not an onnx model at all", "ONNX"), (None, "truncated")],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.onnx"
    if content is None:
        content = (DATA / "light" / "light_squeezenet.onnx").read_bytes()[:3000]
    path.write_bytes(content)
    with pytest.raises(FrontendError, match=message):
        frontend_mess.import_model(str(path), to="linalg")


@pytest.mark.xfail(
    strict=True,
    raises=FrontendError,
    reason="torch-mlir lowers multi-parameter PRelu with a mis-broadcast slope "
    "(notes/onnx.md; related: torch-mlir #1087)",
)
def test_prelu_multiparam_known_failure():
    path = DATA / "pytorch-converted" / "test_PReLU_2d_multiparam" / "model.onnx"
    frontend_mess.import_model(str(path), to="linalg")


def test_both_importers_produce_the_same_raw_ops():
    path = str(DATA / "light" / "light_inception_v1.onnx")
    ops = [
        frontend_mess.import_model(path, to="raw", onnx_importer_name=name).stats()
        for name in ONNX_IMPORTERS
    ]
    assert ops[0] == ops[1]


def test_external_data_beside_the_model(tmp_path):
    """Weights in a separate file next to the .onnx (how large models ship) are found."""
    source = tmp_path / "src.onnx"
    module = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU())
    torch.onnx.export(module, (torch.randn(2, 64),), str(source), dynamo=False)
    model = onnx.load(str(source))
    target = tmp_path / "model" / "net.onnx"
    target.parent.mkdir()
    onnx.save_model(
        model,
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="net.weights",
        size_threshold=0,
    )
    assert (target.parent / "net.weights").stat().st_size >= 64 * 32 * 4
    from frontend_mess.backend.targets import target_spec
    from frontend_mess.verify import verify

    report = verify(str(target), target_spec("llvm-cpu"))
    assert report.ok, report.text()
    (target.parent / "net.weights").unlink()
    with pytest.raises(FrontendError, match="external data missing"):
        frontend_mess.import_model(str(target), to="linalg")


def _rms_norm_model(opset: int = 23) -> onnx.ModelProto:
    """RMSNormalization, one of ONNX_EXPAND_FUNCTIONS: its body computes `axes` with Shape,
    Size and Range, which OnnxToTorch cannot lower unless they are folded to a constant."""
    from onnx import TensorProto, helper

    node = helper.make_node("RMSNormalization", ["x", "scale"], ["y"], axis=-1, epsilon=1e-5)
    graph = helper.make_graph(
        [node],
        "rms",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8]),
            helper.make_tensor_value_info("scale", TensorProto.FLOAT, [8]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 8])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_function_ops_expand_into_their_onnx_bodies():
    """Every chosen op has a function body in onnx's schemas (the list cannot rot silently),
    and prepare() leaves none of them, nor any local function, in the model."""
    from frontend_mess.defaults import ONNX_EXPAND_FUNCTIONS

    for domain, ops in ONNX_EXPAND_FUNCTIONS.items():
        for op in ops:
            schema = onnx.defs.get_schema(op, domain=domain)
            assert schema.has_function or schema.has_context_dependent_function, op
    prepared = onnx_importer.prepare(_rms_norm_model())
    ops = [n.op_type for n in prepared.graph.node]
    assert "RMSNormalization" not in ops and "ReduceMean" in ops
    assert not prepared.functions
    assert {o.domain for o in prepared.opset_import} <= {"", "ai.onnx"}


def test_ops_outside_the_list_keep_their_direct_lowering():
    from onnx import TensorProto, helper

    node = helper.make_node("LayerNormalization", ["x", "scale"], ["y"], axis=-1)
    graph = helper.make_graph(
        [node],
        "ln",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8]),
            helper.make_tensor_value_info("scale", TensorProto.FLOAT, [8]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert [n.op_type for n in onnx_importer.prepare(model).graph.node] == ["LayerNormalization"]


def test_folding_makes_computed_axes_constant():
    """After prepare(), ReduceMean's `axes` is a constant, not a Range over Shape."""
    prepared = onnx_importer.prepare(_rms_norm_model())
    reduce = next(n for n in prepared.graph.node if n.op_type == "ReduceMean")
    constants = {t.name for t in prepared.graph.initializer} | {
        o for n in prepared.graph.node if n.op_type == "Constant" for o in n.output
    }
    assert len(reduce.input) < 2 or reduce.input[1] in constants
    assert not {"Shape", "Size", "Range"} & {n.op_type for n in prepared.graph.node}


def test_expanded_rms_normalization_runs_as_onnx_defines_it():
    """Compiled by IREE after expansion and folding, RMSNormalization matches onnx's reference
    evaluator on fresh random inputs (rtol 1e-5, atol 1e-6)."""
    import numpy as np
    from onnx.reference import ReferenceEvaluator

    from frontend_mess.onnx_backend import IreeBackend

    model = _rms_norm_model()
    rng = np.random.default_rng()
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    scale = rng.standard_normal(8).astype(np.float32)
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x, "scale": scale})
    (got,) = IreeBackend.prepare(model).run([x, scale])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_castlike_saturate_survives_prepare():
    """onnx_graph.fold_constants: the folder would turn this CastLike into a Cast without its
    `saturate=0`; prepare() keeps the node and the attribute."""
    from onnx import TensorProto, helper

    like = helper.make_tensor("like", TensorProto.FLOAT8E4M3FN, [1], [0.0])
    node = helper.make_node("CastLike", ["x", "like"], ["y"], saturate=0)
    graph = helper.make_graph(
        [node],
        "castlike",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT8E4M3FN, [3])],
        initializer=[like],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    (kept,) = onnx_importer.prepare(model).graph.node
    assert kept.op_type == "CastLike"
    assert [(a.name, a.i) for a in kept.attribute] == [("saturate", 0)]


def _empty_initializer_model() -> onnx.ModelProto:
    """y = Concat(x, empty): an empty float initializer, as TorchScript's export of T5 has."""
    from onnx import TensorProto, helper, numpy_helper

    empty = numpy_helper.from_array(torch.zeros(0, 3).numpy(), "empty")
    graph = helper.make_graph(
        [helper.make_node("Concat", ["x", "empty"], ["y"], axis=0)],
        "concat_empty",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [empty],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", MIN_ONNX_OPSET)])


def _iree_bytecode_round_trip(text: str):
    """What the pipeline does before iree-compile: the module parsed with IREE's MLIR, written
    as bytecode (the store's object) and read back."""
    import io

    from iree.compiler import ir

    buffer = io.BytesIO()
    ir.Module.parse(text, ir.Context()).operation.write_bytecode(buffer)
    return ir.Module.parse(buffer.getvalue(), ir.Context())


def test_empty_initializer_survives_bytecode(tmp_path):
    """IREE's MLIR writes an empty `dense_resource` blob to bytecode that its own reader rejects
    ("expected alignment to be a power-of-two"): the upstream import shows it, and
    frontend-mess's import (which inlines empty resources as `dense<>`) round-trips and
    verifies. When the first half stops raising, MLIR is fixed and the rewrite can go."""
    model = _empty_initializer_model()
    upstream = str(onnx_importer._import_torch_mlir(model))
    assert "dense_resource<" in upstream
    with pytest.raises(Exception, match="power-of-two"):
        _iree_bytecode_round_trip(upstream)

    module = str(onnx_importer.to_mlir(model, "raw"))
    assert "dense_resource<" not in module and "dense<>" in module
    _iree_bytecode_round_trip(module).operation.verify()
    onnx.save(model, tmp_path / "concat_empty.onnx")
    report = frontend_mess.verify(str(tmp_path / "concat_empty.onnx"))
    assert report.ok, report.text()


def test_preparing_an_old_model_prints_nothing(capfd):
    """onnx_ir's passes log a warning for every initializer that is also a graph input (IR-3
    models list their weights as inputs): one line per weight on stderr, under --quiet too.
    prepare silences that logger while it folds (onnx_graph.fold_constants)."""
    import logging

    onnx_importer.load(DATA / "light" / "light_squeezenet.onnx")
    out, err = capfd.readouterr()
    assert "initializer" not in out + err
    assert logging.getLogger("onnx_ir").level == logging.NOTSET  # restored after folding
