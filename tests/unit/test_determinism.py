"""Same command, same pins, same bytes (issue 12): random weights are drawn from `--seed`
(default 0), so two imports of every source kind to every output kind, and two compiles,
write byte-identical files; another seed writes other weights."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from frontend_mess.cli import main
from frontend_mess.defaults import OUTPUT_KINDS

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "tests/filecheck/Inputs/mlp.py"
BERT = ROOT / "frontend_mess/matrix/data/hf-tiny/bert.json"


def _gemm_onnx(path: Path) -> Path:
    """An ONNX file with real (random, fixed in the file) weights."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper, save

    rng = np.random.default_rng(5)
    weight = numpy_helper.from_array(rng.standard_normal((16, 8)).astype("float32"), "w")
    bias = numpy_helper.from_array(rng.standard_normal(8).astype("float32"), "b")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"])],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
        initializer=[weight, bias],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _source(kind: str, tmp_path: Path) -> str:
    return {
        "python": str(MLP),
        "hf-config": f"hf-config:{BERT}",
        "onnx": str(_gemm_onnx(tmp_path / "gemm.onnx")) if kind == "onnx" else "",
    }[kind]


def _twice(argv: list[str], outputs: list[Path]) -> list[tuple[bytes, bytes]]:
    found = []
    for _ in range(2):
        for out in outputs:
            out.unlink(missing_ok=True)
        assert main([*argv, "-q", "--no-store"]) == 0
        found.append(tuple(o.read_bytes() for o in outputs if o.exists()))
    return found


CASES = [
    (source, kind)
    for source in ("python", "hf-config", "onnx")
    for kind in OUTPUT_KINDS
    if not (source == "onnx" and kind == "fx")  # an ONNX file has no FX graph
]


@pytest.mark.slow
@pytest.mark.parametrize(("source", "kind"), CASES, ids=[f"{s}-{k}" for s, k in CASES])
def test_two_imports_write_the_same_bytes(tmp_path, source, kind):
    out = tmp_path / "out.mlir"
    first, second = _twice(
        ["import", _source(source, tmp_path), "--to", kind, "-o", str(out)], [out]
    )
    assert first and first == second


@pytest.mark.slow
@pytest.mark.parametrize("source", ["python", "hf-config", "onnx"])
@pytest.mark.parametrize("params", ["inline", "external"])
def test_two_compiles_write_the_same_vmfb(tmp_path, source, params):
    out, archive = tmp_path / "m.vmfb", tmp_path / "m.irpa"
    argv = ["compile", _source(source, tmp_path), "-o", str(out), "--params", params]
    first, second = _twice(argv, [out, archive])
    assert first == second
    assert len(first) == (2 if params == "external" else 1)


@pytest.mark.slow
def test_two_processes_write_the_same_torchvision_ir_and_archive(tmp_path):
    """In separate processes (hash seeds and all), a torchvision model's IR and weights."""
    env = {**os.environ, "CI": "1"}
    got = []
    for run in range(2):
        out = tmp_path / f"{run}.mlir"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "frontend_mess",
                "import",
                "squeezenet1_1",
                "-o",
                str(out),
                "--no-store",
            ],
            env=env,
            check=True,
        )
        got.append((out.read_bytes(), out.with_suffix(".irpa").read_bytes()))
    assert got[0] == got[1]
    assert b"#stream.parameter.named" in got[0][0]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["python", "hf-config"])
def test_another_seed_draws_other_weights(tmp_path, source):
    outs = []
    for seed in ("0", "1"):
        out = tmp_path / f"{seed}.mlir"
        argv = ["import", _source(source, tmp_path), "--to", "torch", "-o", str(out)]
        assert main([*argv, "--seed", seed, "--params", "inline", "-q", "--no-store"]) == 0
        outs.append(out.read_bytes())
    assert outs[0] != outs[1]
