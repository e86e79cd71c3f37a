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
