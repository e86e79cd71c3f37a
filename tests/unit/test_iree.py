"""IREE lowering: verify across sources against the framework's own output, the flag table,
input-type detection, signatures, the Python artifact API, CUDA artifacts."""

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import frontend_mess
from frontend_mess.backend.compiler import classify_stage, detect_input_type
from frontend_mess.backend.signature import ELEMENT_TYPES, Signature, annotate
from frontend_mess.backend.targets import (
    CPU_SPEED_FLAGS,
    resolve_cuda_arch,
    target_spec,
)
from frontend_mess.pipeline import VIAS
from frontend_mess.support.errors import FrontendError
from frontend_mess.verify import verify

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ROOT / "tests" / "filecheck" / "Inputs"
TINY = ROOT / "frontend_mess" / "matrix" / "data" / "hf-tiny"
ONNX_DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
CPU = target_spec("llvm-cpu")


@pytest.mark.parametrize(
    "source",
    [
        str(INPUTS / "mlp.py"),
        "squeezenet1_1",
        "mobilenet_v3_small",
        f"hf-config:{TINY / 'bert.json'}",
        f"hf-config:{TINY / 'gpt2.json'}",
        f"hf-config:{TINY / 't5.json'}",
    ],
    ids=["module-file", "squeezenet1_1", "mobilenet_v3_small", "bert", "gpt2", "t5"],
)
def test_verify_against_pytorch(source):
    report = verify(source, CPU)
    assert report.checks and report.ok, report.text()


@pytest.mark.parametrize("via", VIAS)
def test_every_path_verifies(via):
    report = verify(str(INPUTS / "mlp.py"), CPU, via=via)
    assert report.ok, report.text()


def test_verify_onnx_against_onnxruntime(tmp_path):
    """torch.onnx.export gives real weights (the shipped light models have theirs stripped)."""
    path = tmp_path / "net.onnx"
    module = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5)
    )
    torch.onnx.export(module, (torch.randn(1, 3, 8, 8),), str(path), dynamo=False)
    report = verify(str(path), CPU)
    assert report.reference == "onnxruntime" and report.ok, report.text()
    shipped = verify(str(ONNX_DATA / "light" / "light_squeezenet.onnx"), CPU)
    assert shipped.ok, shipped.text()


def test_verify_can_fail():
    """A model whose exported program is not its eager self (it asks torch whether it is
    being exported) must fail verify. (Tolerance 0 on a plain MLP did not: on an AVX-512 +
    AMX host IREE's sums matched eager's bit for bit.)"""
    path = INPUTS / "exporting_differs.py"
    report = verify(str(path), CPU, seed=3)
    assert not report.ok and "MISMATCH" in report.text()


def test_fresh_inputs_are_new_and_in_range():
    """verify draws new inputs, not the traced ones; token ids stay in the traced range and a
    constant integer input (an all-ones mask) stays constant."""
    from frontend_mess.verify import fresh_like

    generator = torch.Generator().manual_seed(1)
    floats = torch.randn(4, 5)
    assert not torch.equal(fresh_like(floats, generator), floats)
    ids = torch.tensor([[3, 9, 120, 7]])
    drawn = fresh_like(torch.cat([ids] * 50), generator)
    assert drawn.min() >= 3 and drawn.max() <= 120 and drawn.dtype == torch.int64
    mask = torch.ones(1, 8, dtype=torch.int64)
    assert torch.equal(fresh_like(mask, generator), mask)


def test_compile_api_artifact(tmp_path):
    artifact = frontend_mess.compile(str(INPUTS / "mlp.py"))
    assert artifact.target == "llvm-cpu" and set(CPU_SPEED_FLAGS) <= set(artifact.flags)
    assert artifact.tool_versions["iree-base-compiler"] == "3.13.0"
    saved = artifact.save(tmp_path / "mlp.vmfb")
    loaded = frontend_mess.Artifact.load(saved)
    x = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    np.testing.assert_array_equal(loaded.run(x)[0], artifact.run(x)[0])
    assert str(loaded.module().signature("main")) == "(x: 8x16xf32) -> (8x4xf32)"  # forward(x)


def test_run_checks_inputs():
    artifact = frontend_mess.compile(str(INPUTS / "mlp.py"))
    with pytest.raises(FrontendError, match="must be tensor<8x16xf32>, got 8x16xf64"):
        artifact.run(np.zeros((8, 16)))
    with pytest.raises(FrontendError, match="takes 1 input"):
        artifact.run()


def test_cuda_artifact_holds_a_cuda_executable(tmp_path):
    artifact = frontend_mess.compile(str(INPUTS / "mlp.py"), target="cuda", cuda_arch="a100")
    assert b"cuda-nvptx-fb" in artifact.data
    assert b".target sm_80" in artifact.data  # the embedded PTX


def test_hopper_maps_to_the_newest_target_iree_knows():
    assert resolve_cuda_arch("sm_90") == ("sm_89", "sm_90")
    assert resolve_cuda_arch("A100") == ("sm_80", None)
    with pytest.raises(FrontendError, match="unknown CUDA architecture"):
        resolve_cuda_arch("sm_42")


def test_iree_313_still_has_no_sm90_target(tmp_path):
    """The reason for the mapping above: flips (fails) once IREE describes Hopper."""
    from iree.compiler.tools import CompilerToolError, compile_str

    with pytest.raises(CompilerToolError, match="missing GPU target"):
        compile_str(
            "func.func @f(%a: tensor<4xf32>) -> tensor<4xf32> {\n"
            "  %0 = arith.addf %a, %a : tensor<4xf32>\n  return %0 : tensor<4xf32>\n}",
            extra_args=["--iree-hal-target-device=cuda", "--iree-cuda-target=sm_90"],
        )


def test_torch_mlir_tosa_custom_syntax_is_rejected_by_iree():
    """The TOSA incompatibility the generic-form route works around; flips when fixed."""
    from iree.compiler.tools import CompilerToolError, compile_str

    text = frontend_mess.import_model(str(INPUTS / "mlp.py"), to="tosa").text
    with pytest.raises(CompilerToolError, match="tosa.const_shape' expected 'values'"):
        compile_str(text, extra_args=list(target_spec("llvm-cpu").flags))


@pytest.mark.gpu
def test_cuda_run_matches_pytorch():
    report = verify(str(INPUTS / "mlp.py"), target_spec("cuda", cuda_arch="sm_80"), device="cuda")
    assert report.ok, report.text()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('%0 = torch.operator "onnx.Relu"(%arg0)', "onnx"),
        ("%0 = torch.aten.relu %arg0", "torch"),
        ("%0 = stablehlo.add %a, %b", "stablehlo"),
        ("%0 = tosa.add %a, %b", "tosa"),
        ("%0 = linalg.matmul ins(%a, %b)", "none"),
        ("%0:2 = tm_tensor.scan dimension(1) inclusive(true)", "tm_tensor"),
        (
            '%0 = linalg.fill\n{-#\n dialect_resources: { builtin: { torch_tensor_1: "0x" } }',
            "none",
        ),
    ],
)
def test_detect_input_type(text, kind):
    assert detect_input_type(text) == kind


@pytest.mark.parametrize(
    ("diagnostics", "stage"),
    [
        ("x.mlir:4:28: error: custom op 'tosa.const_shape' expected 'values'", "parse"),
        (
            "x.mlir:1:1: error: failed to legalize operation 'torch.aten.fft_fft'",
            "input conversion",
        ),
        ("x.mlir:9:3: error: 'llvm.intr' failed to translate", "codegen"),
    ],
)
def test_classify_stage(diagnostics, stage):
    assert classify_stage(diagnostics) == stage


def test_signature_from_iree_declaration():
    signature = Signature.from_declaration(
        "sync func @main(%input0: tensor<?x3xf32>, %input1: "
        "tensor<2xi64>) -> (%output0: tensor<f16>)"
    )
    assert [str(t) for t in signature.inputs] == ["?x3xf32", "2xi64"]
    assert signature.inputs[0].accepts(np.zeros((5, 3), np.float32))
    assert not signature.inputs[1].accepts(np.zeros((3,), np.int64))
    assert str(signature.outputs[0]) == "f16"


@pytest.mark.slow
@pytest.mark.parametrize("config", ["albert", "bert", "llama"])
def test_fx_tosa_verifies_models_with_int64(config):
    """IREE 3.13 rejected torch-mlir's TOSA for these (an i64 `tosa.gather` with i32 indices:
    the token type and position buffers; a `tosa.cast` of the i64 mask); with the int64
    narrowed (importers/tosa_int64.py) they verify: notes/iree.md."""
    report = verify(f"hf-config:{TINY / f'{config}.json'}", CPU, via="fx-tosa")
    assert report.ok, report.text()


class VarianceAndMask(torch.nn.Module):
    """What widened hf-tiny's TOSA to f64: torch-mlir's variance decomposition (LayerNorm,
    `var`) computes in f64, and a comparison with a Python float compares in f64."""

    def forward(self, x):
        centered = x - x.mean(-1, keepdim=True)
        masked = torch.where(x == float("-inf"), torch.zeros_like(x), centered)
        return masked / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5)


def test_fx_tosa_demotes_f64(monkeypatch):
    """IREE's TOSA input rejects f64 ("'tosa.cast' op is not profile-aligned"), which
    torch-mlir's TOSA lowering puts inside f32 models; frontend-mess demotes every f64 inside
    a function whose signature has none (fx.tosa_without_f64). Without it the model fails to
    compile: when that half passes, torch-mlir or IREE changed and the demotion can go."""
    from frontend_mess.importers import fx

    args = (torch.randn(2, 3, 16),)
    text = frontend_mess.import_model(VarianceAndMask(), args, to="tosa").text
    assert "f64" not in text and "tosa.reduce_sum" in text
    report = frontend_mess.verify(VarianceAndMask(), args, via="fx-tosa")
    assert report.ok, report.text()
    monkeypatch.setattr(fx, "demote_f64_tensors", lambda module, ir: 0)
    with pytest.raises(FrontendError, match="f64"):
        frontend_mess.verify(VarianceAndMask(), args, via="fx-tosa", store=None)


class TokenTypesAndMask(torch.nn.Module):
    """What BERT and Llama do with int64: a lookup in an int64 buffer (token types) by the
    ids, a mask cast to float, an int64 position sum returned as it is."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("types", torch.arange(16, dtype=torch.int64) % 3)
        self.embed = torch.nn.Embedding(3, 8)

    def forward(self, ids, mask):
        kinds = self.types[ids]  # gather from an i64 table
        scale = mask.to(torch.float32).unsqueeze(-1)  # cast of the i64 mask
        return self.embed(kinds) * scale, (ids + mask).cumsum(-1) * 2


def test_fx_tosa_narrows_int64_and_verifies(monkeypatch):
    """TOSA's profiles have no int64 and IREE's TOSA validation refuses ops on it (hf-tiny's
    BERT family on tosa.gather, the decoders on tosa.cast: reports/repros/fx-tosa-*);
    frontend-mess narrows int64 inside the functions to int32 and keeps their i64 interface
    (importers/tosa_int64.py). Without it the model fails to compile: when that half
    passes, IREE or torch-mlir changed and the narrowing can go."""
    from frontend_mess.importers import tosa_int64

    ids = torch.randint(0, 16, (2, 5))
    mask = torch.randint(0, 2, (2, 5))
    text = frontend_mess.import_model(TokenTypesAndMask(), (ids, mask), to="tosa").text
    assert "arith.trunci" in text and "arith.extsi" in text
    from torch_mlir import ir
    from torch_mlir.dialects import torch as torch_d

    context = ir.Context()
    torch_d.register_dialect(context)
    assert tosa_int64.int64_tosa_ops(ir.Module.parse(text, context), ir) == []
    report = frontend_mess.verify(TokenTypesAndMask(), (ids, mask), via="fx-tosa", store=None)
    assert report.ok, report.text()
    monkeypatch.setattr(tosa_int64, "narrow_int64_tensors", lambda module, ir: 0)
    with pytest.raises(FrontendError, match="tosa"):
        frontend_mess.verify(TokenTypesAndMask(), (ids, mask), via="fx-tosa", store=None)


def test_an_int64_constant_out_of_int32_range_is_left_with_a_warning():
    """Narrowing is exact only while values fit in 32 bits: a constant that does not leaves
    the module untouched (IREE then says which op), with a warning naming it."""
    from torch_mlir import ir
    from torch_mlir.dialects import torch as torch_d

    from frontend_mess.importers.tosa_int64 import tosa_without_int64
    from frontend_mess.support.progress import Progress

    text = """func.func @main(%arg0: tensor<2xi64>) -> tensor<2xi64> {
      %0 = "tosa.const"() <{values = dense<[1, 4294967296]> : tensor<2xi64>}> : () -> tensor<2xi64>
      %1 = "tosa.add"(%arg0, %0) : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
      return %1 : tensor<2xi64>
    }"""
    context = ir.Context()
    torch_d.register_dialect(context)
    module = ir.Module.parse(text, context)
    notes = []
    progress = Progress(quiet=False)
    progress.note = notes.append
    tosa_without_int64(module, progress)
    assert str(module) == str(ir.Module.parse(text, context))
    assert len(notes) == 1 and "4294967296" in notes[0] and "fx-linalg" in notes[0]
    small = text.replace("4294967296", "7")
    module = ir.Module.parse(small, context)
    tosa_without_int64(module, progress)
    assert "tensor<2xi32>" in str(module) and "arith.trunci" in str(module)
    # an i64 scalar read out of a tensor: an op the narrowing does not rewrite, so the module
    # is left whole (a half-narrowed one would not verify), with a warning naming the op
    scalar = small.replace(
        "      return %1 : tensor<2xi64>",
        "      %c0 = arith.constant 0 : index\n"
        "      %2 = tensor.extract %1[%c0] : tensor<2xi64>\n"
        "      %3 = tensor.from_elements %2, %2 : tensor<2xi64>\n"
        "      return %3 : tensor<2xi64>",
    )
    module = ir.Module.parse(scalar, context)
    tosa_without_int64(module, progress)
    assert str(module) == str(ir.Module.parse(scalar, context))
    assert "tensor.extract" in notes[-1] and "fx-linalg" in notes[-1]


def test_classify_input_dialect_validation():
    assert (
        classify_stage("x.mlir:3:5: error: 'tosa.cast' op is not profile-aligned")
        == "input conversion"
    )


_EMPTY_BLOB = """module {
  func.func @main() -> tensor<0xi64> {
    %0 = arith.constant dense_resource<__empty> : tensor<0xi64>
    return %0 : tensor<0xi64>
  }
}
{-#
  dialect_resources: {
    builtin: {
      __empty: "0x08000000"
    }
  }
#-}"""


def test_iree_mlir_cannot_read_back_an_empty_resource_blob_it_wrote():
    """Why annotate_signatures keeps text as text (an empty ONNX constant in ALBERT)."""
    import io

    from iree.compiler import ir

    context = ir.Context()
    buffer = io.BytesIO()
    ir.Module.parse(_EMPTY_BLOB, context).operation.write_bytecode(buffer)
    with pytest.raises(Exception, match="alignment to be a power-of-two"):
        ir.Module.parse(buffer.getvalue(), context)


def test_an_empty_resource_blob_compiles_and_runs():
    from frontend_mess.backend.compiler import compile_text

    artifact = compile_text(_EMPTY_BLOB, target_spec("llvm-cpu"), input_type="none")
    (result,) = artifact.run()
    assert result.shape == (0,) and result.dtype == np.int64


@pytest.mark.parametrize(
    ("element", "numpy_dtype"),
    [("f8E4M3FN", "float8_e4m3fn"), ("ui8", "uint8"), ("i1", "bool"), ("bf16", "bfloat16")],
)
def test_signature_reads_element_types_with_the_mlir_bindings(element, numpy_dtype):
    """The signature writer reads each public function's types with MLIR's bindings: f8,
    unsigned and i1 elements keep their names (a regular expression once dropped capitals)."""
    text = (
        f"func.func @main(%a: tensor<2x?x{element}>) -> tensor<2x?x{element}> {{\n"
        f"  return %a : tensor<2x?x{element}>\n}}"
    )
    _, signatures = annotate(text, {"main": ["user"]})
    (tensor,) = signatures["main"].inputs
    assert tensor.shape == (2, None) and tensor.dtype == element
    assert signatures["main"].roles == ("user",)
    assert Signature.from_json(signatures["main"].to_json()) == signatures["main"]
    assert str(np.dtype(ELEMENT_TYPES[element])) == numpy_dtype


def test_signature_reads_torch_vtensor_types():
    text = (
        "func.func @main(%a: !torch.vtensor<[8,?],si64>) -> !torch.vtensor<[8,?],si64> {\n"
        "  return %a : !torch.vtensor<[8,?],si64>\n}"
    )
    _, signatures = annotate(text)
    assert [str(t) for t in signatures["main"].inputs] == ["8x?xi64"]


def test_signature_of_a_string_tensor_is_read_not_refused():
    """ONNX string tensors (`!torch.str` elements, the shipped StringNormalizer models) have no
    bit width; reading the signature must not fail before IREE reports the unsupported op."""
    text = (
        "func.func @main(%a: !torch.vtensor<[1,6],!torch.str>) -> "
        "!torch.vtensor<[1,6],!torch.str> {\n  return %a : !torch.vtensor<[1,6],!torch.str>\n}"
    )
    _, signatures = annotate(text)
    assert [t.shape for t in signatures["main"].inputs] == [(1, 6)]
    assert not signatures["main"].has_f64


class OneBlockViT(torch.nn.Module):
    """torchvision's ViT-B/32 cut to one encoder block at 112x112 (50 tokens, as vit_b_32's
    224x224 has): its fused residual + LayerNorm + pack dispatch keeps ViT-B's stack needs."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.vision_transformer import VisionTransformer

        self.vit = VisionTransformer(112, 16, 1, 12, 768, 3072)

    def forward(self, x):
        return self.vit(x)


def _stack_bytes(cpu: str) -> int:
    """The largest stack one dispatch of OneBlockViT takes, compiled for `cpu`: IREE's own
    check, turned on with a limit below it, names the figure."""
    import re

    flags = ["--iree-llvmcpu-fail-on-out-of-bounds-stack-allocation=true"]
    flags += ["--iree-llvmcpu-stack-allocation-limit=32768"]
    with pytest.raises(FrontendError, match="exceeded stack allocation limit") as caught:
        frontend_mess.compile(
            OneBlockViT().eval(), (torch.randn(1, 3, 112, 112),), cpu=cpu, iree_flags=flags
        )
    return int(re.search(r"Got (\d+) bytes", str(caught.value)).group(1))


def test_worker_stack_holds_large_dispatches(tmp_path):
    """ViT-B's dispatch takes 70 KiB of stack with AVX code and 143 KiB with AVX-512 code; IREE
    runtime workers' default stack is 128 KiB, so on an AVX-512 host vit_b_16/_32 and
    vit_l_16/_32 crashed with SIGSEGV (notes/matrix.md). frontend-mess gives the workers
    RUNTIME_FLAGS' stack. On this host: with RUNTIME_FLAGS set below the dispatch's need, the
    runtime crashes the same way (so the flags are what the runtime runs with), and with
    frontend-mess's own the model verifies."""
    import subprocess
    import sys

    from frontend_mess.backend.targets import RUNTIME_WORKER_STACK_BYTES

    avx512 = _stack_bytes("skylake-avx512")
    assert 128 * 1024 < avx512 < RUNTIME_WORKER_STACK_BYTES, avx512
    here = _stack_bytes("host")
    assert here < RUNTIME_WORKER_STACK_BYTES, here

    model, args = OneBlockViT().eval(), (torch.randn(1, 3, 112, 112),)
    path = frontend_mess.compile(model, args).save(tmp_path / "vit.vmfb")
    np.save(tmp_path / "x.npy", args[0].numpy())
    child = (
        "import sys, numpy as np\n"
        "from frontend_mess.backend import targets\n"
        "from frontend_mess.backend.artifact import Artifact\n"
        f"targets.RUNTIME_FLAGS = ('--task_worker_stack_size={here // 2}',)\n"
        "module = Artifact.load(sys.argv[1]).module()\n"
        "module._invoke(module.default_function(), [np.load(sys.argv[2])])\n"
    )
    small = subprocess.run(
        [sys.executable, "-c", child, str(path), str(tmp_path / "x.npy")],
        capture_output=True,
        timeout=300,
    )
    assert small.returncode == -11, (small.returncode, small.stderr[-500:])  # SIGSEGV
    report = frontend_mess.verify(model, args)
    assert report.ok, report.text()


def test_tiled_load_from_buffer_compiles_again_without_data_tiling():
    """The second data-tiling failure pinned (targets.TILED_LOAD_ERROR): the attention of
    Llama's prefill through TOSA, as `reduce` left it (38 ops, weights made splats:
    tests/unit/data/tiled_load_from_buffer.tosa.mlir), fails CPU codegen with data tiling
    on any CPU; compile_text compiles it again without, and records the flag. If the first
    compile starts to pass, drop the message from targets.DATA_TILING_ERRORS."""
    from iree.compiler.tools import CompilerToolError, compile_str

    from frontend_mess.backend.compiler import compile_text
    from frontend_mess.backend.targets import (
        DATA_TILING_RETRY_FLAGS,
        TILED_LOAD_ERROR,
        input_flags,
        target_spec,
    )

    text = (Path(__file__).parent / "data" / "tiled_load_from_buffer.tosa.mlir").read_text()
    spec = target_spec("llvm-cpu", cpu="haswell")
    with pytest.raises(CompilerToolError, match=TILED_LOAD_ERROR):
        compile_str(text, extra_args=[*spec.flags, *input_flags("tosa", "llvm-cpu")])
    artifact = compile_text(text, spec, input_type="tosa")
    assert set(DATA_TILING_RETRY_FLAGS) <= set(artifact.flags)


def test_large_tiled_vectors_compile_again_without_data_tiling():
    """iree #24876 pinned, and the retry that works around it (targets.LARGE_VECTORS_ERROR):
    hf-tiny's ResNet through TOSA, compiled for AVX-512 (any host: a named CPU), fails CPU
    codegen with data tiling on; compile_text compiles it again without data tiling, records
    the flag. If the first compile starts to pass, drop the retry."""
    from iree.compiler.tools import CompilerToolError, compile_str

    from frontend_mess.backend.signature import annotate
    from frontend_mess.backend.targets import (
        DATA_TILING_RETRY_FLAGS,
        LARGE_VECTORS_ERROR,
        input_flags,
        target_spec,
    )
    from frontend_mess.pipeline import compile_input, for_iree, load

    config = Path(__file__).resolve().parents[2] / "frontend_mess/matrix/data/hf-tiny/resnet.json"
    loaded = load(f"hf-config:{config}")
    iree_input = for_iree(loaded, "fx-tosa")
    spec = target_spec("llvm-cpu", cpu="skylake-avx512")
    annotated, _ = annotate(iree_input.mlir, iree_input.roles)
    with pytest.raises(CompilerToolError, match=LARGE_VECTORS_ERROR):
        compile_str(annotated, extra_args=[*spec.flags, *input_flags("tosa", "llvm-cpu")])
    artifact = compile_input(iree_input, spec)
    assert set(DATA_TILING_RETRY_FLAGS) <= set(artifact.flags)
    assert "--iree-opt-data-tiling" in artifact.flags  # the target's flags, then the retry's
    from frontend_mess.matrix.cell import _retry_flags

    assert _retry_flags(artifact, spec) == list(DATA_TILING_RETRY_FLAGS)  # a matrix record says so
