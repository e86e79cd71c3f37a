"""`frontend-mess reduce` on MLIR (frontend_mess/reduce/mlir.py, mlir_run.py): the op search
on a fake oracle, what a candidate keeps (constants and non-tensor values never cut off,
cut values typed arguments), and real stages: a TOSA function iree-compile refuses and a
torch function torch-mlir cannot lower to TOSA, each reduced to the ops that fail the same
way, written as a repro whose own command fails the same way again."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest

from frontend_mess.reduce.mlir import MlirFunction, reduce_function
from frontend_mess.reduce.mlir_run import failing_op_of, failing_types_of

#: torch-mlir's TOSA for BERT's token-type lookup (an i64 table gathered by i32 indices, which
#: IREE's TOSA validation refuses: reports/matrix-hf-tiny.jsonl, fx-tosa), between three ops
#: that have nothing to do with it
TOSA = """
"builtin.module"() ({
  "func.func"() <{function_type = (tensor<1x8xi32>, tensor<4xf32>)
      -> (tensor<1x8x1xi64>, tensor<4xf32>), sym_name = "main"}> ({
  ^bb0(%arg0: tensor<1x8xi32>, %arg1: tensor<4xf32>):
    %0 = "tosa.abs"(%arg1) : (tensor<4xf32>) -> tensor<4xf32>
    %1 = "tosa.const"() <{values = dense<0> : tensor<1x64x1xi64>}> : () -> tensor<1x64x1xi64>
    %2 = "tosa.abs"(%0) : (tensor<4xf32>) -> tensor<4xf32>
    %3 = "tosa.gather"(%1, %arg0) : (tensor<1x64x1xi64>, tensor<1x8xi32>) -> tensor<1x8x1xi64>
    %4 = "tosa.abs"(%2) : (tensor<4xf32>) -> tensor<4xf32>
    "func.return"(%3, %4) : (tensor<1x8x1xi64>, tensor<4xf32>) -> ()
  }) : () -> ()
}) : () -> ()
"""

#: a KV-cache write as GPT-2's decode step makes it (index_put with four index tensors, which
#: torch-mlir does not lower to TOSA: reports/matrix-hf-generate.jsonl), beside a relu
TORCH = """
"builtin.module"() ({
  "func.func"() <{function_type = (!torch.vtensor<[1,1,1,1],si64>, !torch.vtensor<[2,1,1],si64>,
      !torch.vtensor<[8,1],si64>, !torch.vtensor<[32],si64>, !torch.vtensor<[1,2,8,32],f32>,
      !torch.vtensor<[4],f32>) -> (!torch.vtensor<[1,2,32,32],f32>, !torch.vtensor<[4],f32>),
      sym_name = "main"}> ({
  ^bb0(%a0: !torch.vtensor<[1,1,1,1],si64>, %a1: !torch.vtensor<[2,1,1],si64>,
       %a2: !torch.vtensor<[8,1],si64>, %a3: !torch.vtensor<[32],si64>,
       %a4: !torch.vtensor<[1,2,8,32],f32>, %a5: !torch.vtensor<[4],f32>):
    %r = "torch.aten.relu"(%a5) : (!torch.vtensor<[4],f32>) -> !torch.vtensor<[4],f32>
    %0 = "torch.vtensor.literal"() <{value = dense<0.0> : tensor<1x2x32x32xf32>}>
        : () -> !torch.vtensor<[1,2,32,32],f32>
    %1 = "torch.constant.bool"() <{value = false}> : () -> !torch.bool
    %2 = "torch.prim.ListConstruct"(%a0, %a1, %a2, %a3) : (!torch.vtensor<[1,1,1,1],si64>,
        !torch.vtensor<[2,1,1],si64>, !torch.vtensor<[8,1],si64>, !torch.vtensor<[32],si64>)
        -> !torch.list<vtensor>
    %3 = "torch.aten.index_put.hacked_twin"(%0, %2, %a4, %1) : (!torch.vtensor<[1,2,32,32],f32>,
        !torch.list<vtensor>, !torch.vtensor<[1,2,8,32],f32>, !torch.bool)
        -> !torch.vtensor<[1,2,32,32],f32>
    %s = "torch.aten.relu"(%r) : (!torch.vtensor<[4],f32>) -> !torch.vtensor<[4],f32>
    "func.return"(%3, %s) : (!torch.vtensor<[1,2,32,32],f32>, !torch.vtensor<[4],f32>) -> ()
  }) : () -> ()
}) : () -> ()
"""


def names(function: MlirFunction, kept) -> list[str]:
    return [function.ops[i].name for i in sorted(kept)]


def test_the_failing_op_alone_keeps_its_constant_and_takes_the_rest_as_arguments():
    function = MlirFunction(TOSA, "tosa.gather")
    assert function.failing == 3 and len(function.ops) == 5
    candidate = function.candidate({3})
    assert names(function, candidate.kept) == ["tosa.const", "tosa.gather"]  # const pulled in
    again = MlirFunction(candidate.text)  # it parses, and takes the indices as its argument
    assert [str(a.type) for a in again.arguments] == ["tensor<1x8xi32>"]
    assert [op.name for op in again.ops] == ["tosa.const", "tosa.gather"]


def test_a_value_that_is_not_a_tensor_is_never_cut_off():
    function = MlirFunction(TORCH, "torch.aten.index_put.hacked_twin")
    candidate = function.candidate({function.failing})
    # the list of indices and the bool are made with their user; the indices are arguments
    assert names(function, candidate.kept) == [
        "torch.vtensor.literal",
        "torch.constant.bool",
        "torch.prim.ListConstruct",
        "torch.aten.index_put.hacked_twin",
    ]
    assert len(MlirFunction(candidate.text).arguments) == 5


def test_the_search_on_a_fake_oracle_ends_on_the_ops_it_needs():
    """An oracle that fails while the gather and the second abs are both kept: the failing op
    alone does not, so the window search and the drops find the two (and the constant)."""
    function = MlirFunction(TOSA, "tosa.gather")
    tried = []

    def fails(candidate) -> bool:
        tried.append(candidate.kept)
        return {2, 3} <= candidate.kept

    best = reduce_function(function, fails)
    assert best is not None and best.kept == {1, 2, 3}
    assert len(tried) <= 10
    assert reduce_function(function, lambda candidate: False) is None


def test_the_op_and_its_types_are_read_from_the_diagnostic():
    error = (
        "IREE failed at input conversion for model on llvm-cpu: error: 'tosa.gather' op "
        "illegal: ... [at: %92 = tosa.gather %23, %91 : (tensor<1x64x1xi64>, tensor<1x8xi32>) "
        "-> tensor<1x8x1xi64>] (--keep-diagnostics DIR keeps the full diagnostics)"
    )
    assert failing_op_of("tosa.gather") == "tosa.gather"
    assert failing_op_of("input f32 given f32") == ""
    types = failing_types_of(error)
    assert types == "(tensor<1x64x1xi64>, tensor<1x8xi32>) -> tensor<1x8x1xi64>"
    # two gathers: the one of the diagnostic's types comes first
    other = TOSA.replace(
        '%0 = "tosa.abs"(%arg1) : (tensor<4xf32>) -> tensor<4xf32>',
        '%0 = "tosa.abs"(%arg1) : (tensor<4xf32>) -> tensor<4xf32>\n'
        '    %c = "tosa.const"() <{values = dense<0.0> : tensor<1x64x1xf32>}> : () -> '
        "tensor<1x64x1xf32>\n"
        '    %g = "tosa.gather"(%c, %arg0) : (tensor<1x64x1xf32>, tensor<1x8xi32>) -> '
        "tensor<1x8x1xf32>",
    )
    function = MlirFunction(other, "tosa.gather", types)
    assert function.ops[function.failing_ops[1]].name == "tosa.gather"
    assert str(function.ops[function.failing].results[0].type) == "tensor<1x8x1xi64>"


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "frontend_mess", *args], capture_output=True, text=True, cwd=cwd
    )


def _rerun(repro) -> dict:
    """The repro's own command, run in its directory: the verdict it prints."""
    info = json.loads((repro / "repro.json").read_text())
    argv = shlex.split(info["command"])
    assert argv[:3] == ["python", "-m", "frontend_mess.reduce.mlir_stage"]
    done = subprocess.run(
        [sys.executable, *argv[1:]], capture_output=True, text=True, cwd=repro, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.slow
def test_a_tosa_function_iree_refuses_reduces_to_its_gather(tmp_path):
    (tmp_path / "m.mlir").write_text(TOSA)
    repro = tmp_path / "repro"
    done = _cli("reduce", str(tmp_path / "m.mlir"), "--input-type", "tosa", "-o", str(repro))
    assert done.returncode == 0, done.stderr
    info = json.loads((repro / "repro.json").read_text())
    assert info["original"]["ops"] == 5 and info["reduced"]["ops"] == 2
    assert info["reduced"]["op_names"] == ["tosa.const", "tosa.gather"]
    assert info["failure"]["error_class"] == "tosa.gather"
    issue = (repro / "ISSUE.md").read_text()
    assert "iree-compile model.mlir --iree-input-type=tosa" in issue
    verdict = _rerun(repro)
    assert (verdict["status"], verdict["error_class"]) == ("compile-fail", "tosa.gather")


@pytest.mark.slow
def test_a_torch_function_that_does_not_lower_to_tosa_reduces_to_its_index_put(tmp_path):
    (tmp_path / "m.mlir").write_text(TORCH)
    repro = tmp_path / "repro"
    done = _cli(
        "reduce", str(tmp_path / "m.mlir"), "--stage", "lower", "--to", "tosa", "-o", str(repro)
    )
    assert done.returncode == 0, done.stderr
    info = json.loads((repro / "repro.json").read_text())
    assert info["original"]["ops"] == 6 and info["reduced"]["ops"] == 4
    assert "torch.aten.relu" not in info["reduced"]["op_names"]
    assert "torch-backend-to-tosa-backend-pipeline" in (repro / "ISSUE.md").read_text()
    verdict = _rerun(repro)
    assert verdict["status"] == "lower-fail"
    assert verdict["error_class"] == "torch.aten.index_put.hacked_twin"


def test_reduce_of_mlir_says_what_it_needs(tmp_path):
    (tmp_path / "m.mlir").write_text(TORCH)
    done = _cli("reduce", str(tmp_path / "m.mlir"), "--stage", "lower", "-o", str(tmp_path / "r"))
    assert done.returncode == 2 and "needs --to" in done.stderr
    (tmp_path / "bad.mlir").write_text("this is not MLIR")
    done = _cli("reduce", str(tmp_path / "bad.mlir"), "-o", str(tmp_path / "r"))
    assert done.returncode == 2 and "cannot parse the MLIR module" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_candidate_keeps_the_globals_its_ops_name():
    """turbine's module keeps each weight in a `util.global` read by `util.global.load`: a
    candidate that keeps a load carries the global it names (and no other)."""
    text = """
    module {
      util.global private @w = dense<1.0> : tensor<4xf32>
      util.global private @unused = dense<2.0> : tensor<4xf32>
      func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
        %a = arith.negf %x : tensor<4xf32>
        %w = util.global.load @w : tensor<4xf32>
        %b = arith.addf %x, %w : tensor<4xf32>
        return %a, %b : tensor<4xf32>, tensor<4xf32>
      }
    }"""
    function = MlirFunction(text, "arith.addf")
    candidate = function.candidate({function.failing})
    assert names(function, candidate.kept) == ["util.global.load", "arith.addf"]
    assert "@w" in candidate.text and "@unused" not in candidate.text
    again = MlirFunction(candidate.text)  # it parses and verifies as a module of its own
    assert [op.name for op in again.ops] == ["util.global.load", "arith.addf"]
