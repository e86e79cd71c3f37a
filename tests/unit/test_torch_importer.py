"""Upstream behaviours the torch importer works around. Each test shows the upstream behaviour
itself (so it fails, and the note must change, when upstream changes) and that frontend-mess
handles it. See notes/torch-export.md."""

import pytest
import torch
from torch_mlir import fx

import frontend_mess

pytestmark = pytest.mark.slow


class WithNonPersistentBuffer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("position_ids", torch.arange(6).float(), persistent=False)

    def forward(self, x):
        return x + self.position_ids


def test_torch_mlir_frozen_import_misses_non_persistent_buffers():
    """torch-mlir #4744: still broken in torch-mlir 20261001."""
    program = torch.export.export(WithNonPersistentBuffer(), (torch.randn(2, 6),), strict=False)
    with pytest.raises(AssertionError, match="Could not find state mapping for buffer"):
        fx.export_and_import(program, output_type="linalg-on-tensors")


def test_frontend_mess_imports_non_persistent_buffers():
    model = frontend_mess.import_model(WithNonPersistentBuffer(), (torch.randn(2, 6),))
    assert "dense_resource<torch_tensor_6_torch.float32>" in model.text


class Double(torch.nn.Module):
    def forward(self, x):
        return x * 2


def test_torch_export_specializes_size_one_dims():
    """A dim marked dynamic whose example size is 1 is refused by torch.export."""
    with pytest.raises(Exception, match="specialized it to be a constant"):
        torch.export.export(
            Double(),
            (torch.randn(1, 3),),
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            strict=False,
        )


def test_frontend_mess_widens_size_one_dynamic_dims():
    model = frontend_mess.import_model(Double(), (torch.randn(1, 3),), dynamic_dims=[0])
    assert "tensor<?x3xf32>" in model.text


class ParameterInList(torch.nn.Module):
    """`torch.cat([self.weight, x])`: the pattern in Swin's and MobileBERT's embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(2, 4))

    def forward(self, x):
        return torch.cat([self.weight, x], dim=0)


def test_torch_mlir_frozen_import_rejects_parameters_in_lists():
    """No upstream issue found; still broken in torch-mlir 20261001."""
    program = torch.export.export(ParameterInList(), (torch.randn(3, 4),), strict=False)
    with pytest.raises(AssertionError, match="Heterogeneous lists are not supported"):
        fx.export_and_import(program, output_type="linalg-on-tensors")


def test_frontend_mess_imports_parameters_in_lists():
    model = frontend_mess.import_model(ParameterInList(), (torch.randn(3, 4),))
    assert "tensor.concat dim(0)" in model.text
    assert "linalg.copy" not in model.text  # the inserted clone folds away


class _UnprintableOperation:
    attributes: dict = {}

    def get_asm(self, **_):
        raise MemoryError("printing a 644M-parameter module")


class _UnprintableModule:
    operation = _UnprintableOperation()


def test_torch_mlir_repro_report_hides_the_real_error():
    """torch-mlir's error handler reads a variable the failing print never set (seen on
    regnet_y_128gf under a memory cap); the real error is left in __context__."""
    from torch_mlir.compiler_utils import run_pipeline_with_repro_report

    with pytest.raises(UnboundLocalError, match="asm_for_error_report") as caught:
        run_pipeline_with_repro_report(_UnprintableModule(), "builtin.module()", "test")
    assert isinstance(caught.value.__context__, MemoryError)
    from frontend_mess.importers.fx import _masked_cause

    assert isinstance(_masked_cause(caught.value), MemoryError)


def test_ceil_mode_max_pool_verifies_on_stablehlo(monkeypatch):
    """torch-mlir's StableHLO lowering pads a ceil-mode max pool's window symmetrically
    (squeezenet1_0's `features.6`, 54 -> 27); frontend-mess pads the input at its end
    first (fx.explicit_ceil_mode_padding). Without that, the same pool mismatches: when this
    test's second half starts failing, torch-mlir is fixed and the workaround can go."""
    model = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.MaxPool2d(3, 2, ceil_mode=True))
    _stablehlo_rewrite_is_needed(
        monkeypatch,
        model,
        (torch.randn(1, 2, 54, 54),),
        "explicit_ceil_mode_padding",
        (1, 2, 27, 27),
        "torch-mlir's StableHLO ceil-mode pool matches now: drop the rewrite",
    )


def _stablehlo_rewrite_is_needed(monkeypatch, model, args, rewrite, shape, fixed_message):
    """`model` verifies on fx-stablehlo with its output of `shape`, and mismatches once the FX
    rewrite `fx.<rewrite>` is turned off (when it stops mismatching, upstream is fixed)."""
    from frontend_mess import pipeline
    from frontend_mess.backend.targets import target_spec
    from frontend_mess.importers import fx
    from frontend_mess.verify import verify

    def check():
        loaded = pipeline.load(model, example_args=args)
        return verify(loaded, target_spec("llvm-cpu"), via="fx-stablehlo")

    fixed = check()
    assert fixed.ok and fixed.checks[0].shape == shape, fixed.text()
    monkeypatch.setattr(fx, rewrite, lambda program: program)
    assert not check().ok, fixed_message


class CacheWrite(torch.nn.Module):
    """A KV cache written as transformers' StaticLayer writes it: `index_copy_` along the
    sequence dim at `start`, `start + 1`, ... (one position per new row: distinct, as a
    cache's are), then read (so the write is not dead)."""

    def forward(self, cache, start, new):
        cache = cache.clone()
        cache.index_copy_(2, torch.arange(new.shape[2]) + start, new)
        return cache * 2.0


def test_the_index_copy_rewrite_moves_values_exactly():
    """The rewritten FX program, run by PyTorch itself, equals the original on the same
    inputs: an inf in one written row stays in its slot (a one-hot matmul would have made
    NaNs of every other row's slots), and values broadcast over a dim are expanded first."""
    from frontend_mess import pipeline
    from frontend_mess.importers import fx as importer

    class Broadcast(torch.nn.Module):
        def forward(self, cache, start, new):
            cache = cache.clone()
            cache[:, :, torch.arange(new.shape[2]) + start] = new  # new: [1, 1, 3, 4]
            return cache

    new = torch.randn(1, 1, 3, 4)
    new[0, 0, 1, 2] = float("inf")
    args = (torch.randn(1, 2, 8, 4), torch.tensor([2]), new)
    loaded = pipeline.load(Broadcast(), example_args=args)
    pipeline.export(loaded)
    (program,) = loaded.prepared().values()
    rewritten = importer.one_hot_index_copies(program)
    assert rewritten is not program
    assert not any("index_put" in str(n.target) for n in rewritten.graph.nodes)
    want = Broadcast()(*args)
    got = rewritten.module()(*args)
    got = got[0] if isinstance(got, tuple | list) else got
    assert torch.equal(got, want)  # bit for bit, the inf where it was written


class CacheSetItem(torch.nn.Module):
    """The same write as `cache[:, :, positions] = new`, where a negative position counts
    from the end."""

    def forward(self, cache, start, new):
        cache = cache.clone()
        cache[:, :, torch.arange(new.shape[2]) + start] = new
        return cache * 2.0


@pytest.mark.parametrize(
    "module, start, rows",
    [(CacheWrite, 5, 1), (CacheWrite, 2, 3), (CacheSetItem, -3, 2)],
    ids=["decode", "prefill", "negative"],
)
def test_index_copy_lowers_to_tosa(monkeypatch, module, start, rows):
    """torch-mlir's TOSA lowering has no conversion for an `index_put` with a `None`-led index
    list (every hf-generate decode step failed on fx-tosa); frontend-mess writes it as a
    select on a one-hot mask (fx.one_hot_index_copies). Both one position (the decode step)
    and several (the prefill) verify; without the rewrite the lowering fails: when that
    half passes, torch-mlir lowers it and the rewrite can go."""
    from frontend_mess import pipeline
    from frontend_mess.backend.targets import target_spec
    from frontend_mess.importers import fx as importer
    from frontend_mess.support.errors import FrontendError
    from frontend_mess.verify import verify

    args = (torch.randn(1, 2, 8, 4), torch.tensor([start]), torch.randn(1, 2, rows, 4))

    def check():
        loaded = pipeline.load(module(), example_args=args)
        return verify(loaded, target_spec("llvm-cpu"), via="fx-tosa")

    report = check()
    assert report.ok, report.text()
    monkeypatch.setattr(importer, "one_hot_index_copies", lambda program: program)
    with pytest.raises(FrontendError, match="index_put"):
        check()


def test_depthwise_conv3d_imports_as_channel_pairs():
    """torch-mlir cannot lower a depthwise 3-D convolution to linalg (mvit's attention
    pooling); frontend-mess runs it as a grouped convolution over channel pairs
    (torchvision_models._pair_depthwise_conv3d), with the same result. When the first half
    starts passing, torch-mlir lowers it and the rewrite can go."""
    import torch

    from frontend_mess.importers.torchvision_models import _pair_depthwise_conv3d

    conv = torch.nn.Sequential(torch.nn.Conv3d(8, 8, 3, stride=(1, 2, 2), padding=1, groups=8))
    x = torch.randn(1, 8, 4, 6, 6)
    with pytest.raises(Exception, match="Linalg-on-Tensors Backend IR failed"):
        fx.export_and_import(conv, x, output_type="linalg-on-tensors")
    with torch.no_grad():
        want = conv(x)
        paired = _pair_depthwise_conv3d(conv)
        torch.testing.assert_close(paired(x), want, rtol=1e-5, atol=1e-6)
    fx.export_and_import(paired, x, output_type="linalg-on-tensors")


def test_encoder_decoder_lowers_to_stablehlo(capfd):
    """torch-mlir's StableHLO pipeline refines shapes of one function or of `main`; a module of
    two (an encoder-decoder's `encoder` and `decoder_step`) fails there upstream, while
    frontend-mess lowers each function alone and merges the modules (fx.to_mlir)."""
    from torch_mlir import ir
    from torch_mlir.compiler_utils import OutputType, TorchMlirCompilerError
    from torch_mlir.dialects import torch as torch_d
    from torch_mlir.extras.fx_importer import FxImporter

    from frontend_mess.importers import fx as fm_fx

    def programs():
        return {
            "encoder": torch.export.export(torch.nn.Linear(4, 3), (torch.randn(2, 4),)),
            "decoder_step": torch.export.export(torch.nn.Tanh(), (torch.randn(5),)),
        }

    context = ir.Context()
    torch_d.register_dialect(context)
    importer = FxImporter(context=context)
    for func_name, program in programs().items():
        importer.import_frozen_program(program, func_name=func_name)
    with pytest.raises(TorchMlirCompilerError, match="StableHLO Backend IR failed"):
        fx._module_lowering(False, False, OutputType.STABLEHLO, importer.module)
    # MLIR prints the diagnostic itself; the exception only names the pass pipeline
    assert "must have no more than one function or a `main`" in capfd.readouterr().err

    module = fm_fx.to_mlir(programs(), "stablehlo")
    module.operation.verify()
    names = [op.attributes["sym_name"].value for op in module.body.operations]
    assert names == ["encoder", "decoder_step"]
    assert "stablehlo.dot_general" in str(module) and "stablehlo.tanh" in str(module)


def test_negative_index_verifies_on_stablehlo(monkeypatch):
    """torch-mlir's StableHLO lowering gathers with a negative index unwrapped (the gather
    clamps it to 0; Falcon's `fused_qkv[..., [-2], :]`); frontend-mess wraps integer indices
    first (fx.wrap_negative_indices). Without it the same model mismatches: when the second
    half starts passing, torch-mlir handles negative indices and the rewrite can go."""

    class LastButOne(torch.nn.Module):
        def forward(self, x):
            return x[:, :, [-2], :] + x[:, [-1, 3], :, :].sum(1, keepdim=True)

    _stablehlo_rewrite_is_needed(
        monkeypatch,
        LastButOne(),
        (torch.randn(1, 8, 4, 32),),
        "wrap_negative_indices",
        (1, 8, 4, 32),
        "torch-mlir's StableHLO gather wraps negative indices now: drop it",
    )


def test_torch_mlirs_pipeline_runner_prints_the_module():
    """torch-mlir's run_pipeline_with_repro_report prints the whole module before running
    (its repro report), weights included: it passes no `large_resource_limit`. The pin: its
    source still does so (when it stops, importers/lean_pipelines.py can go). The lean runner
    gives the module torch-mlir's gives, and raises its error type with the diagnostics."""
    import inspect

    from torch_mlir import ir
    from torch_mlir.compiler_utils import (
        OutputType,
        TorchMlirCompilerError,
        lower_mlir_module,
        run_pipeline_with_repro_report,
    )

    from frontend_mess.importers.lean_pipelines import lean_pipelines, run_pipeline

    source = inspect.getsource(run_pipeline_with_repro_report)
    assert "get_asm(" in source and "large_resource_limit" not in source, "torch-mlir changed"

    program = torch.export.export(torch.nn.Linear(4, 3), (torch.randn(2, 4),))
    modules = [fx.export_and_import(program, output_type="torch") for _ in range(2)]
    lower_mlir_module(False, OutputType.LINALG_ON_TENSORS, modules[0])
    with lean_pipelines():
        lower_mlir_module(False, OutputType.LINALG_ON_TENSORS, modules[1])
    assert str(modules[1]) == str(modules[0]) and "linalg.matmul" in str(modules[1])
    import torch_mlir.compiler_utils as compiler_utils

    assert compiler_utils.run_pipeline_with_repro_report is run_pipeline_with_repro_report
    with pytest.raises(TorchMlirCompilerError, match="no-such-pass"):
        run_pipeline(modules[1], "builtin.module(no-such-pass)", "a bad pipeline")
    assert isinstance(modules[1], ir.Module)
