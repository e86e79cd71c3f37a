"""The one pipeline (frontend_mess/pipeline.py), through the API and the CLI: each test pins a
behaviour a new user once found broken (issue 10), on fresh random inputs against PyTorch eager
or onnxruntime with verify's stated tolerance (defaults.VERIFY_RTOL/ATOL)."""

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import frontend_mess
from frontend_mess.cli import main
from frontend_mess.matrix.runner import cells
from frontend_mess.support.errors import EXIT_USAGE, FrontendError

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "frontend_mess" / "matrix" / "data" / "hf-tiny"
CONV = Path(onnx.__file__).parent / "backend/test/data/pytorch-converted/test_Conv2d/model.onnx"


class Mutates(torch.nn.Module):
    def forward(self, x):
        x.add_(1.0)
        return x * 3


class DataDependentScalar(torch.nn.Module):
    def forward(self, x, n):
        return x * int(n)


class Doubles(torch.nn.Module):
    def forward(self, x):
        return x * 2.0 + 1


class MasksWithTensorAnd(torch.nn.Module):
    """transformers' masking_utils in small: `mask & torch.tensor(True)`."""

    def forward(self, x):
        return torch.where((x > 0) & torch.tensor(True), x, torch.zeros_like(x))


def test_turbine_path_lowers_tensor_and():
    """pipeline._TURBINE_EXTRA_DECOMPOSITIONS: verified against eager on random inputs."""
    report = frontend_mess.verify(MasksWithTensorAnd(), (torch.randn(4, 8),), via="turbine")
    assert report.ok, report.text()


@pytest.mark.xfail(strict=True, reason="IREE's torch input cannot lower aten.__and__.Tensor")
def test_turbine_alone_still_fails_on_tensor_and():
    """The upstream gap behind _TURBINE_EXTRA_DECOMPOSITIONS; XPASSes once IREE lowers it."""
    import iree.turbine.aot as aot
    from iree.compiler.tools import compile_str

    exported = aot.export(MasksWithTensorAnd(), args=(torch.randn(4, 8),))
    compile_str(str(exported.mlir_module), input_type="torch", target_backends=["llvm-cpu"])


class CumulativeSum(torch.nn.Module):
    """Position ids as BLOOM, OPT and RoBERTa make them."""

    def forward(self, mask):
        return torch.cumsum(mask, dim=1) * mask


def test_cumsum_verifies_on_fx_linalg():
    """torch-mlir lowers cumsum to `tm_tensor.scan` (pipeline._INPUT_TYPE_OF_KIND)."""
    report = frontend_mess.verify(CumulativeSum(), (torch.randn(2, 16),), via="fx-linalg")
    assert report.ok, report.text()


def test_in_memory_module_imports_compiles_and_runs():
    model, x = torch.nn.Linear(4, 2).eval(), torch.randn(3, 4)
    artifact = frontend_mess.import_model(model, (x,)).compile()
    fresh = torch.randn(3, 4)
    (got,) = artifact.run(fresh)
    np.testing.assert_allclose(got, model(fresh).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert frontend_mess.verify(model, (x,)).ok
    assert frontend_mess.compile(model, (x,)).via == "fx-torch"


def test_artifact_repr_is_short():
    artifact = frontend_mess.compile(torch.nn.Linear(64, 64), (torch.randn(2, 64),))
    text = repr(artifact)
    assert len(text) < 300 and "llvm-cpu" in text and "2x64xf32" in text


@pytest.mark.parametrize("via", ["fx-torch", "fx-linalg"])
def test_f64_interface_on_torch_paths(via):
    """iree #24180 hit the default path too: f64 in and out came back half-filled."""
    report = frontend_mess.verify(Doubles(), (torch.randn(4, 6, dtype=torch.float64),), via=via)
    assert report.ok, report.text()


@pytest.mark.parametrize("via", ["fx-torch", "fx-linalg", "fx-tosa"])
def test_mutated_input_is_not_an_extra_output(via):
    report = frontend_mess.verify(Mutates(), (torch.randn(2, 3),), via=via)
    assert report.ok and len(report.checks) == 1, report.text()
    artifact = frontend_mess.compile(Mutates(), (torch.randn(2, 3),), via=via)
    assert artifact.signatures["main"].roles == ("mutation:x", "user")


def test_data_dependent_scalar_retries_strict_export():
    args = (torch.randn(2, 3), torch.tensor(3))
    assert frontend_mess.verify(DataDependentScalar(), args).ok
    with pytest.raises(FrontendError, match=r"\[export\].*non-strict"):
        frontend_mess.compile(DataDependentScalar(), args, export="non-strict")


def test_dynamic_batch_verifies_at_two_batch_sizes():
    report = frontend_mess.verify(torch.nn.Linear(4, 2), (torch.randn(3, 4),), dynamic_dims=[0])
    assert report.ok
    assert [c.function for c in report.checks] == ["main at 3x4", "main at 4x4"]


@pytest.mark.parametrize(("config", "dim"), [("gpt2", 1), ("gpt2", 0), ("bert", 1), ("bert", 0)])
def test_hf_dynamic_dims(config, dim):
    model = frontend_mess.import_model(
        f"hf-config:{TINY / f'{config}.json'}", to="torch", dynamic_dims=[dim]
    )
    signature = next(line for line in model.text.splitlines() if "func.func @main" in line)
    assert ",?]" in signature if dim == 1 else "[?," in signature


def test_hf_decoder_with_a_dynamic_batch_verifies(capsys):
    """torch-mlir's SDPA decomposition cannot take a symbolic batch (fx._SDPA_OPS); the op
    is imported whole instead, said on stderr, and the model verifies at two batch sizes."""
    code = main(["verify", f"hf-config:{TINY / 'gpt2.json'}", "--dynamic-dim", "0"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "scaled_dot_product_attention imported whole" in captured.err
    assert "main at 2x8, 2x8" in captured.out and "main at 3x8, 3x8" in captured.out


def test_torch_mlir_sdpa_decomposition_still_breaks_a_dynamic_batch():
    """Pins the upstream failure the fallback works around, on tiny GPT-2 (a bare SDPA module
    does not show it): fails once torch-mlir's table decomposes it with a symbolic batch."""
    from torch_mlir.extras.fx_decomp_util import get_decomposition_table

    from frontend_mess.api import make_options
    from frontend_mess.pipeline import export, load

    loaded = load(f"hf-config:{TINY / 'gpt2.json'}", make_options(dynamic_dims=["0"]))
    program = export(loaded)["main"]
    with pytest.raises(Exception, match="Cannot view a tensor with shape"):
        program.run_decompositions(get_decomposition_table())


def test_onnx_via_onnx_iree_uses_irees_importer(capsys, tmp_path):
    code = main(["compile", str(CONV), "--via", "onnx-iree", "-q", "-o", str(tmp_path / "c.vmfb")])
    assert code == 0 and "via onnx-iree" in capsys.readouterr().out
    code = main(["verify", str(CONV), "--onnx-importer", "iree", "-q"])
    out = capsys.readouterr().out
    assert code == 0 and "via onnx-iree against onnxruntime" in out


def test_verify_of_a_dynamic_onnx_input_fails_before_compiling(capsys, tmp_path):
    path = tmp_path / "dyn.onnx"
    torch.onnx.export(
        torch.nn.Linear(4, 2), (torch.randn(2, 4),), str(path), dynamo=False,
        input_names=["x"], dynamic_axes={"x": {0: "batch"}},
    )  # fmt: skip
    code = main(["verify", str(path), "-q"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "--input-shape NAME=DIMS" in err and "[compile]" not in err


def test_torch_source_through_the_dynamo_onnx_exporter():
    args = (torch.randn(2, 4),)
    for exporter in ("dynamo", "torchscript"):
        report = frontend_mess.verify(
            torch.nn.Linear(4, 3), args, via="onnx", onnx_exporter=exporter
        )
        assert report.ok, (exporter, report.text())


def test_hf_tiny_suite_reads_the_packaged_configs():
    todo = cells(["hf-tiny"], ["fx-torch"], ["llvm-cpu"])
    assert len(todo) == len(list(TINY.glob("*.json"))) == 26
    assert all(c["source"].startswith("hf-config:hf-tiny/") for c in todo)


class OneMinusMask(torch.nn.Module):
    def forward(self, x, mask):
        return (1.0 - mask) * x


ONE_MINUS_MASK_ARGS = (torch.randn(2, 3), torch.ones(2, 3, dtype=torch.int64))


@pytest.mark.xfail(
    strict=True,
    raises=FrontendError,
    reason="pytorch #194381: the dynamo ONNX exporter fails on scalar - int tensor (XLNet)",
)
def test_dynamo_onnx_exporter_scalar_minus_int_tensor():
    frontend_mess.verify(OneMinusMask(), ONE_MINUS_MASK_ARGS, via="onnx", onnx_exporter="dynamo")


def test_onnx_export_error_names_the_root_cause():
    with pytest.raises(FrontendError, match=r"\[export\].*RuntimeError: Cannot find a compatible"):
        frontend_mess.compile(
            OneMinusMask(), ONE_MINUS_MASK_ARGS, via="onnx", onnx_exporter="dynamo"
        )
    report = frontend_mess.verify(
        OneMinusMask(), ONE_MINUS_MASK_ARGS, via="onnx", onnx_exporter="torchscript"
    )
    assert report.ok, report.text()


def test_auto_onnx_exporter_falls_back_to_torchscript(capsys):
    """The default exporter, `auto`, is dynamo, and TorchScript where dynamo fails; the
    fallback is a note that names dynamo's error."""
    from frontend_mess.support.progress import Progress

    report = frontend_mess.verify(
        OneMinusMask(), ONE_MINUS_MASK_ARGS, via="onnx", progress=Progress(quiet=False)
    )
    assert report.ok, report.text()
    err = capsys.readouterr().err
    assert "onnx exporter: torchscript, as dynamo failed" in err, err
    assert "Cannot find a compatible" in err
    linear = frontend_mess.verify(
        torch.nn.Linear(4, 3), (torch.randn(2, 4),), via="onnx", progress=Progress(quiet=False)
    )
    assert linear.ok and "onnx exporter: torchscript" not in capsys.readouterr().err
