"""Weights moved out of the IR into an IREE parameter archive (frontend_mess/backend/params.py):
the IR names them, the `.vmfb` shrinks, and IREE's runtime (Python and iree-run-module) loads
the archive and computes what PyTorch does, on fresh random inputs."""

from __future__ import annotations

import gc
import io
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from frontend_mess.backend.params import (
    Parameters,
    externalize,
    parameters_module,
    write_irpa,
)
from frontend_mess.defaults import PARAMS_MIN_BYTES
from frontend_mess.support.errors import FrontendError

CPU_ARGS = ["--iree-llvmcpu-target-cpu=generic"]
RTOL, ATOL = 1e-4, 1e-5
# kind -> iree-compile's input type
INPUT_TYPES = {
    "torch": "torch",
    "torch-mlir": "torch",  # torch-mlir's own torch dialect, where torch_c is not registered
    "linalg": "none",
    "tosa": "tosa",
    "stablehlo": "stablehlo",
    "onnx": "onnx",
}


# -- hand-written modules: fast ---------------------------------------------------------------

SMALL = """
module {
  func.func @main(%arg0: tensor<1024xf32>) -> tensor<1024xf32> {
    %big = arith.constant dense<BIG> : tensor<1024xf32>
    %same = arith.constant dense<BIG> : tensor<1024xf32>
    %small = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
    %splat = arith.constant dense<2.5> : tensor<1024xf32>
    %0 = arith.addf %arg0, %big : tensor<1024xf32>
    %1 = arith.mulf %0, %same : tensor<1024xf32>
    %2 = arith.addf %1, %splat : tensor<1024xf32>
    return %2 : tensor<1024xf32>
  }
}
"""
BIG = np.arange(1024, dtype=np.float32) / 7


def _small_text() -> str:
    return SMALL.replace("BIG", "[" + ", ".join(f"{v:.9e}" for v in BIG) + "]")


def _bindings(name: str):
    if name == "torch_mlir":
        from torch_mlir import ir
    else:
        from iree.compiler import ir
    return ir


@pytest.mark.parametrize("bindings", ["torch_mlir", "iree"])
def test_large_constants_leave_small_and_splats_stay(bindings):
    ir = _bindings(bindings)
    module = ir.Module.parse(_small_text(), ir.Context())
    params = externalize(module, ir, min_bytes=64)
    text = module.operation.get_asm(print_generic_op_form=True)
    # the two identical constants share one parameter; the 16-byte one and the splat stay
    assert list(params.arrays) == ["p0"] and params.replaced == 2 and params.inline == 2
    assert params.arrays["p0"].tobytes() == BIG.tobytes()
    assert '#stream.parameter.named<"model"::"p0"> : tensor<1024xf32>' in text
    assert text.count('"util.global.load"') == 2
    assert "dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]>" in text
    assert "dense<2.500000e+00>" in text
    assert f"{BIG[100]:e}" not in text


def test_min_bytes_keeps_constants_inline():
    from iree.compiler import ir

    text = _small_text()
    module = ir.Module.parse(text, ir.Context())
    before = str(module)
    params = externalize(module, ir, min_bytes=1024 * 4 + 1)
    assert len(params) == 0 and params.replaced == 0 and params.inline == 4
    assert str(module) == before
    assert PARAMS_MIN_BYTES <= 4096  # a 64x64 f32 weight (16 KiB) always leaves


def test_dense_resource_bf16_and_i1_bytes_are_what_iree_stores():
    """The byte kinds the bindings cannot read (a dense_resource blob, bf16) go through IREE's
    own serializer; i1 takes a byte per element, as IREE stores it."""
    from torch_mlir import ir

    blob = np.arange(256, dtype=np.float32)
    text = f"""
    module {{
      func.func @main() -> (tensor<256xf32>, tensor<3xbf16>, tensor<5xi1>) {{
        %0 = arith.constant dense_resource<blob> : tensor<256xf32>
        %1 = arith.constant dense<[1.0, 2.0, -3.0]> : tensor<3xbf16>
        %2 = arith.constant dense<[true, false, true, true, false]> : tensor<5xi1>
        return %0, %1, %2 : tensor<256xf32>, tensor<3xbf16>, tensor<5xi1>
      }}
    }}
    {{-# dialect_resources: {{ builtin: {{ blob: "0x04000000{blob.tobytes().hex()}" }} }} #-}}
    """
    module = ir.Module.parse(text, ir.Context())
    params = externalize(module, ir, min_bytes=1)
    assert params.arrays["p0"].tobytes() == blob.tobytes()
    assert params.arrays["p1"].tobytes() == bytes.fromhex("803f0040 40c0".replace(" ", ""))
    assert params.arrays["p2"].tobytes() == bytes([1, 0, 1, 1, 0])
    printed = str(module)
    assert "dialect_resources" not in printed  # the blob is no longer referenced


def test_parameters_module_refuses_a_file_that_is_not_an_archive(tmp_path):
    import iree.runtime as rt

    bad = tmp_path / "bad.irpa"
    bad.write_bytes(b"not an archive")
    instance = rt.VmInstance()
    for path in (bad, tmp_path / "missing.irpa"):
        with pytest.raises(FrontendError, match="is not a readable parameter archive"):
            parameters_module(instance, [path])


def test_write_irpa_is_atomic_and_deterministic(tmp_path):
    import iree.runtime as rt

    params = Parameters("model", {"a": np.arange(100, dtype=np.float32), "b": b"\x01\x02\x03"})
    target = tmp_path / "w.irpa"
    target.write_bytes(b"old")
    write_irpa(params, target)
    first = target.read_bytes()
    write_irpa(params.arrays, tmp_path / "again.irpa")
    assert (tmp_path / "again.irpa").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.irpa", "w.irpa"]
    index = rt.ParameterIndex()
    index.load(str(target))
    entries = dict(index.items())
    assert bytes(entries["a"].file_view) == np.arange(100, dtype=np.float32).tobytes()
    assert bytes(entries["b"].file_view) == b"\x01\x02\x03"
    with pytest.raises(FrontendError, match="cannot write .*missing-dir"):
        write_irpa(params, tmp_path / "missing-dir" / "x.irpa")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.irpa", "w.irpa"]


# -- the MLP through the project's pipeline: slow --------------------------------------------


class _Mlp:
    """A seeded nn.Sequential(Linear 64->128, ReLU, Linear 128->10) and its pipeline load."""

    def __init__(self) -> None:
        from frontend_mess import pipeline

        torch.manual_seed(0)
        self.model = torch.nn.Sequential(
            torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
        ).eval()
        self.example = torch.randn(2, 64)
        self.loaded = pipeline.load(self.model, example_args=(self.example,))

    def inline_and_module(self, kind: str):
        """(the inline input iree-compile takes, a fresh module of that kind, its `ir`)."""
        from frontend_mess import pipeline

        if kind == "torch":  # fx-torch: IREE's own FX importer, IREE's context, bytecode
            from iree.compiler import ir

            data = pipeline.for_iree(self.loaded, "fx-torch").mlir
            return data, ir.Module.parse(data, ir.Context()), ir
        from torch_mlir import ir

        if kind == "onnx":  # torch.onnx.export -> torch-mlir's ONNX importer, raw
            module = self._onnx_raw()
            return str(module), module, ir
        lowered = "torch" if kind == "torch-mlir" else kind
        module = pipeline.to_kind(self.loaded, lowered).mlir_module
        return pipeline.generic_form(module), module, ir

    def _onnx_raw(self):
        import tempfile

        from frontend_mess.importers import onnx_graph
        from frontend_mess.importers.onnx_export import export_onnx

        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "mlp.onnx"
            export_onnx(self.loaded.torch.main, path, name="mlp")
            model = onnx_graph.load(path)
        return onnx_graph.to_mlir(model, "raw", importer="torch-mlir", name="mlp")

    def expected(self, x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return self.model(x).numpy()


@pytest.fixture(scope="module")
def mlp() -> _Mlp:
    return _Mlp()


def _as_input(module, kind: str) -> str | bytes:
    """The rewritten module as iree-compile's input, in the form its path hands over."""
    from frontend_mess import pipeline

    if kind == "torch":
        buffer = io.BytesIO()
        module.operation.write_bytecode(buffer)
        return buffer.getvalue()
    if kind == "onnx":
        return str(module)
    return pipeline.generic_form(module)


def _printed(module) -> str:
    return module.operation.get_asm(print_generic_op_form=True)


def _compile(mlir: str | bytes, kind: str) -> bytes:
    from iree.compiler import compile_str

    return compile_str(
        mlir, target_backends=["llvm-cpu"], input_type=INPUT_TYPES[kind], extra_args=CPU_ARGS
    )


def _run(vmfb: bytes, irpa: Path, x: np.ndarray) -> np.ndarray:
    """What frontend_mess/backend/runtime.py's LoadedModule does, with the io_parameters
    module added to the context before the compiled module (which imports it)."""
    import iree.runtime as rt

    config = rt.Config("local-task")
    context = rt.SystemContext(config=config)
    context.add_vm_module(parameters_module(config.vm_instance, [str(irpa)]))
    vm_module = rt.VmModule.copy_buffer(config.vm_instance, vmfb)
    context.add_vm_module(vm_module)
    gc.collect()  # the index and provider parameters_module made live on in its module
    names = vm_module.function_names
    main = next(f for f in names if not f.startswith("__") and not f.endswith("$async"))
    return np.asarray(context.modules[vm_module.name][main](x).to_host())


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(INPUT_TYPES))
def test_mlp_runs_with_weights_from_the_archive(mlp, kind, tmp_path):
    inline, module, ir = mlp.inline_and_module(kind)
    params = externalize(module, ir)
    text = _printed(module)
    # the three weights of 512 bytes or more left; the 40-byte bias stays inline
    assert len(params) == 3 and params.nbytes == (64 * 128 + 128 + 128 * 10) * 4
    assert text.count("#stream.parameter.named") == 3
    for key, data in params.arrays.items():
        assert data.tobytes()[:32].hex().upper() not in text.upper(), key
    assert len(text) < params.nbytes / 2
    irpa = write_irpa(params, tmp_path / "mlp.irpa")

    externalized = _compile(_as_input(module, kind), kind)
    inline_vmfb = _compile(inline, kind)
    assert len(externalized) < len(inline_vmfb) - 0.8 * params.nbytes, (
        len(externalized),
        len(inline_vmfb),
    )
    torch.manual_seed(1234)
    for _ in range(2):
        fresh = torch.randn(2, 64)
        got = _run(externalized, irpa, fresh.numpy())
        np.testing.assert_allclose(got, mlp.expected(fresh), rtol=RTOL, atol=ATOL)


@pytest.mark.slow
def test_archive_holds_the_torch_weights(mlp):
    """fx-torch's dense_resource blobs (read through IREE's serializer) are the weights
    themselves; TOSA's transposed dense constants (read with np.array) their transposes."""
    _, module, ir = mlp.inline_and_module("torch")
    params = externalize(module, ir)
    weight = mlp.model[0].weight.detach().numpy()
    assert params.arrays["p0"].tobytes() == weight.tobytes()
    assert params.arrays["p1"].tobytes() == mlp.model[0].bias.detach().numpy().tobytes()
    _, module, ir = mlp.inline_and_module("tosa")
    params = externalize(module, ir)
    first = params.arrays["p0"].view(np.float32).reshape(64, 128)
    np.testing.assert_array_equal(first, weight.T)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["torch", "linalg", "onnx"])
def test_same_module_gives_identical_ir_and_archive(mlp, kind, tmp_path):
    outputs = []
    for attempt in range(2):
        _, module, ir = mlp.inline_and_module(kind)
        params = externalize(module, ir)
        irpa = write_irpa(params, tmp_path / f"{attempt}.irpa")
        outputs.append((_printed(module), irpa.read_bytes()))
    assert outputs[0][0] == outputs[1][0]
    assert outputs[0][1] == outputs[1][1]


def _iree_run_module() -> str:
    beside = Path(sys.executable).parent / "iree-run-module"
    found = str(beside) if beside.exists() else shutil.which("iree-run-module")
    if found is None:
        pytest.skip("iree-run-module (iree-base-runtime) is not installed")
    return found


@pytest.mark.slow
def test_iree_run_module_reads_the_archive(mlp, tmp_path):
    """IREE's own tool runs the vmfb with `--parameters=model=FILE.irpa`, and refuses to run
    it without the archive: the weights are really outside."""
    _, module, ir = mlp.inline_and_module("linalg")
    irpa = write_irpa(externalize(module, ir), tmp_path / "mlp.irpa")
    vmfb = tmp_path / "mlp.vmfb"
    vmfb.write_bytes(_compile(_as_input(module, "linalg"), "linalg"))
    torch.manual_seed(99)
    fresh = torch.randn(2, 64)
    np.save(tmp_path / "x.npy", fresh.numpy())
    command = [
        _iree_run_module(),
        "--device=local-task",
        f"--module={vmfb}",
        "--function=main",
        f"--input=@{tmp_path / 'x.npy'}",
    ]
    done = subprocess.run(
        [*command, f"--parameters=model={irpa}"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.split("2x10xf32=", 1)[1]
    numbers = [float(n) for n in re.findall(r"[-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?", printed)]
    got = np.array(numbers, dtype=np.float32).reshape(2, 10)
    np.testing.assert_allclose(got, mlp.expected(fresh), rtol=RTOL, atol=ATOL)
    without = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert without.returncode != 0 and "model" in without.stderr, without.stderr


class _IndexBuffer(torch.nn.Module):
    """An int64 buffer: a `!torch.vtensor<[256],si64>` literal, its global a signless i64."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("offsets", torch.arange(256, dtype=torch.int64) * 3 - 100)

    def forward(self, x):
        return x + self.offsets


@pytest.mark.slow
def test_signed_integer_literal_becomes_a_signless_global(tmp_path):
    from iree.compiler import ir

    from frontend_mess import pipeline

    x = torch.randint(-5, 5, (2, 256), dtype=torch.int64)
    model = _IndexBuffer()
    loaded = pipeline.load(model, example_args=(x,))
    module = ir.Module.parse(pipeline.for_iree(loaded, "fx-torch").mlir, ir.Context())
    params = externalize(module, ir)
    text = str(module)
    assert "util.global private @p0" in text and ": tensor<256xi64>" in text
    assert "tensor<256xi64> -> !torch.vtensor<[256],si64>" in text
    assert params.arrays["p0"].tobytes() == model.offsets.numpy().tobytes()
    irpa = write_irpa(params, tmp_path / "offsets.irpa")
    fresh = torch.randint(-50, 50, (2, 256), dtype=torch.int64)
    got = _run(_compile(_as_input(module, "torch"), "torch"), irpa, fresh.numpy())
    np.testing.assert_array_equal(got, model(fresh).numpy())


# -- upstream facts the design rests on (notes/store.md) ------------------------------------


def test_mlir_bindings_cannot_read_a_dense_resource_blob():
    """llvm-project PR #66319: DenseResourceElementsAttr can be built from Python but its
    blob not read back; NumPy sees a 0-d object. Why params.py serializes through IREE's
    `iree-io-export-parameters` pass. If this starts returning the data, read it directly."""
    from torch_mlir import ir

    with ir.Context(), ir.Location.unknown():
        data = np.arange(6, dtype=np.float32)
        attr = ir.DenseResourceElementsAttr.get_from_buffer(
            memoryview(data), "blob", ir.RankedTensorType.get([6], ir.F32Type.get())
        )
        array = np.array(attr)
    assert array.dtype == np.object_ and array.shape == ()


def test_iree_opens_a_parameter_archive_only_by_its_extension(tmp_path):
    """IREE's parser registry picks the format from the file name: the store's objects
    (named by hash, no suffix) are opened through a `.irpa` link (store/objects.py)."""
    import iree.runtime as rt

    archive = write_irpa({"a": np.arange(64, dtype=np.float32)}, tmp_path / "a.irpa")
    bare = tmp_path / "a-without-suffix"
    bare.write_bytes(archive.read_bytes())
    rt.ParameterIndex().load(str(archive))
    with pytest.raises((RuntimeError, ValueError), match="unsupported file format"):
        rt.ParameterIndex().load(str(bare))


def _share_globals(module, ir) -> int:
    """Undo one global per constant: every load of a parameter reads the first global of its
    key (`p3_1` -> `p3`), the rest erased. How externalize first worked."""
    first: dict[str, str] = {}
    rename: dict[str, str] = {}
    for op in list(module.body.operations):
        if op.operation.name != "util.global":
            continue
        key = str(op.operation.attributes["initial_value"]).split('::"')[1].split('"')[0]
        symbol = ir.StringAttr(op.operation.attributes["sym_name"]).value
        if key in first:
            rename[symbol] = first[key]
            op.operation.erase()
        else:
            first[key] = symbol

    def walk(op):
        for region in op.regions:
            for block in region.blocks:
                for inner in block.operations:
                    inner = inner.operation
                    if inner.name == "util.global.load":
                        name = ir.FlatSymbolRefAttr(inner.attributes["global"]).value
                        if name in rename:
                            inner.attributes["global"] = ir.FlatSymbolRefAttr.get(rename[name])
                    walk(inner)

    with module.context:
        walk(module.operation)
    return len(rename)


def _run_in_child(vmfb: Path, irpa: Path, shape: tuple, worker_stack: int | None = None) -> int:
    """The exit code of a fresh process calling the module once; `worker_stack`: the IREE
    task workers' stack in place of frontend-mess's (targets.RUNTIME_FLAGS)."""
    stack = (
        f"targets.RUNTIME_FLAGS = ('--task_worker_stack_size={worker_stack}',)\n"
        if worker_stack
        else ""
    )
    code = (
        "import sys, numpy as np\n"
        "from frontend_mess.backend import targets\n"
        f"{stack}"
        "from frontend_mess.backend.artifact import Artifact\n"
        "m = Artifact.load(sys.argv[1], (sys.argv[2],)).module()\n"
        f"m.call(None, [np.random.default_rng(0).standard_normal({shape}, dtype=np.float32)])\n"
    )
    return subprocess.run([sys.executable, "-c", code, str(vmfb), str(irpa)]).returncode


@pytest.mark.slow
def test_a_shared_value_gets_a_global_per_use_because_one_shared_global_crashes(tmp_path):
    """All of convnext_tiny's LayerNorm weights start as ones, its biases as zeros: equal
    values. They share one archive entry, but each constant gets its own global: loading one
    global from every use made IREE 3.13's llvm-cpu module segfault at run time (found by the
    torchvision matrix with --params external, notes/store.md). The crash is a worker stack
    overflow, as the ViTs' was: with IREE's default 128 KiB worker stack the shared form
    segfaults, with frontend-mess's 2 MiB (targets.RUNTIME_FLAGS) it runs. When the first
    half stops crashing, IREE handles a shared global in 128 KiB."""
    from iree.compiler import ir

    from frontend_mess import pipeline
    from frontend_mess.backend.targets import target_spec

    loaded = pipeline.load("convnext_tiny")
    base = pipeline.for_iree(loaded, "fx-torch")
    spec = target_spec("llvm-cpu", cpu="generic")
    results = {}
    for shared in (False, True):
        module = ir.Module.parse(base.mlir, ir.Context())
        params = externalize(module, ir)
        assert len(params) < params.replaced  # equal values: fewer entries than constants
        if shared:
            assert _share_globals(module, ir) > 0
        moved = pipeline.IreeInput(
            pipeline.module_bytecode(module), "torch", "fx-torch", base.roles
        )
        vmfb, irpa = tmp_path / f"{shared}.vmfb", tmp_path / f"{shared}.irpa"
        pipeline.compile_input(moved, spec).save(vmfb)
        write_irpa(params, irpa)
        results[shared] = _run_in_child(vmfb, irpa, (1, 3, 224, 224))
        if shared:
            iree_default = _run_in_child(vmfb, irpa, (1, 3, 224, 224), worker_stack=131072)
    assert results[False] == 0
    assert iree_default == -signal.SIGSEGV
    assert results[True] == 0


@pytest.mark.slow
def test_weights_are_packed_at_compile_time_not_at_load(tmp_path):
    """With data tiling, external weights were repacked by the module's initializer on every
    load. With the encoder split out (backend/encoder.py) the module holds no packing
    dispatch, its archive holds the packed weights, and it computes what eager does."""
    from frontend_mess import pipeline
    from frontend_mess.backend.artifact import Artifact
    from frontend_mess.backend.encoder import encode
    from frontend_mess.backend.targets import target_spec

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(128, 256), torch.nn.ReLU(), torch.nn.Linear(256, 64)
    ).eval()
    x = torch.randn(4, 128)
    loaded = pipeline.load(model, example_args=(x,))
    moved, archive = pipeline.externalize_input(pipeline.for_iree(loaded), "external")
    original = tmp_path / "original.irpa"
    original.write_bytes(archive)
    spec = target_spec("llvm-cpu", cpu="generic")
    at_load = pipeline.compile_input(moved, spec)
    split = pipeline.compile_input(moved, spec, pack_parameters=True)
    # the packing dispatches of the two weights (256x128, 64x256) and their biases move from
    # the module to the encoder; the input's own packing (4x128) stays, it is per call
    weights = [b"encode_256x128xf32", b"encode_256xf32", b"encode_64x256xf32", b"encode_64xf32"]
    assert at_load.encoder is None and all(w in at_load.data for w in weights)
    assert split.encoder is not None and not any(w in split.data for w in weights)
    assert all(w in split.encoder for w in weights) and b"encode_4x128xf32" in split.data
    assert "--iree-parameter-encoder-output-file=encoder.mlir" in split.flags
    packed = tmp_path / "packed.irpa"
    packed.write_bytes(encode(split.encoder, [original], split.data))
    assert packed.read_bytes() != archive
    # and not the weights it packed: those the encoder read are left out (the archive is not
    # the weights twice over)
    import iree.runtime as rt

    from frontend_mess.backend.encoder import _consumed

    index = rt.ParameterIndex()
    index.load(str(packed))
    consumed = _consumed(split.encoder)
    assert consumed and not consumed & {key for key, _ in index.items()}
    assert packed.stat().st_size < 1.2 * original.stat().st_size
    fresh = torch.randn(4, 128)
    with torch.no_grad():
        want = model(fresh).numpy()
    for vmfb, irpa in ((at_load, original), (split, packed)):
        path = vmfb.save(tmp_path / f"{irpa.stem}.vmfb")
        got = Artifact.load(path, (irpa,)).run(fresh.numpy())[0]
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    # the module that reads packed weights cannot run on the unpacked ones
    with pytest.raises(FrontendError):
        Artifact.load(tmp_path / "packed.vmfb", (original,)).run(fresh.numpy())
