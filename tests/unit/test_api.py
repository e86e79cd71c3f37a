"""`frontend_mess.import_model`: every output kind for a small module, save, stats."""

import pytest
import torch

import frontend_mess
from frontend_mess.defaults import OUTPUT_KINDS
from frontend_mess.support.errors import FrontendError


class Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


ARGS = (torch.randn(1, 2, 6, 6),)
# What each kind must contain, and what it must not.
SIGNS = {
    "fx": ("torch.ops.aten.conv2d.default", "func.func"),
    "raw": ("torch.aten.convolution", "linalg."),
    "torch": ("torch.aten.convolution", "linalg."),
    "linalg": ("linalg.conv_2d_nchw_fchw", "torch.aten"),
    "tosa": ("tosa.conv2d", "torch.aten"),
    "stablehlo": ("stablehlo.convolution", "torch.aten"),
}


@pytest.mark.parametrize("kind", OUTPUT_KINDS)
def test_every_kind(kind):
    model = frontend_mess.import_model(Block(), ARGS, to=kind)
    present, absent = SIGNS[kind]
    assert present in model.text
    assert absent not in model.text
    assert sum(model.stats().values()) > 0


def test_save_text_and_bytecode(tmp_path):
    model = frontend_mess.import_model(Block(), ARGS, to="linalg")
    text = model.save(tmp_path / "m.mlir")
    assert text.read_text() == model.text
    bytecode = model.save(tmp_path / "m.mlirbc")
    assert bytecode.read_bytes()[:4] == b"ML\xefR"
    from torch_mlir import ir

    with ir.Context() as context:
        context.allow_unregistered_dialects = True
        reparsed = ir.Module.parse(bytecode.read_bytes())
        assert "linalg.conv_2d_nchw_fchw" in str(reparsed)


def test_fx_kind_cannot_be_bytecode(tmp_path):
    model = frontend_mess.import_model(Block(), ARGS, to="fx")
    with pytest.raises(FrontendError, match="not MLIR"):
        model.save(tmp_path / "m.mlirbc")
    assert not (tmp_path / "m.mlirbc").exists()


def test_stats_count_ops():
    stats = frontend_mess.import_model(Block(), ARGS, to="linalg").stats()
    assert stats["linalg.conv_2d_nchw_fchw"] == 1
    assert stats["linalg.matmul"] == 1
    assert stats["func.func"] == 1


def test_input_shapes_instead_of_example_args():
    model = frontend_mess.import_model(Block(), input_shapes=["2x2x5x5"], to="torch")
    assert "!torch.vtensor<[2,2,5,5],f32>" in model.text


def test_dynamic_dims():
    model = frontend_mess.import_model(Block(), ARGS, to="linalg", dynamic_dims=[0])
    assert "tensor<?x2x6x6xf32>" in model.text
    model = frontend_mess.import_model(
        torch.nn.Linear(4, 2), input_shapes=["3x5x4"], to="linalg", dynamic_dims=["0:1"]
    )
    assert "tensor<3x?x4xf32>" in model.text


def test_module_without_inputs_is_a_user_error():
    with pytest.raises(FrontendError, match="needs example_args or input_shapes"):
        frontend_mess.import_model(Block(), to="linalg")


def test_unknown_kind():
    with pytest.raises(FrontendError, match="unknown output kind 'mlir'"):
        frontend_mess.import_model(Block(), ARGS, to="mlir")


def test_string_source(inputs_dir):
    model = frontend_mess.import_model(str(inputs_dir / "mlp.py"), to="linalg")
    assert model.source.endswith("mlp.py:MLP")
    assert "tensor<8x16xf32>" in model.text
