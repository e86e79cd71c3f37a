"""Named inputs: each compiled function's arguments carry their names as IREE's own
`iree.abi.name` (backend/signature.name_arguments), read back into frontend-mess's signature,
on every path; `run --input NAME=FILE` and `Artifact.run(name=array)` place inputs by them.
Names come from a forward's parameters, a Hugging Face wrapper's (`input_ids`,
`attention_mask`, `pixel_values`, the cache's `past_key_values.0.key`), or an ONNX graph's
inputs. Models: tests/filecheck/Inputs (mlp.py, zoo.py) and hf-tiny's configs."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from frontend_mess.backend.signature import NAME_ATTR, Signature, TensorType
from frontend_mess.support.errors import FrontendError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "frontend_mess" / "matrix" / "data" / "hf-tiny"
INPUTS = ROOT / "tests" / "filecheck" / "Inputs"


def _signature(names=("input_ids", "attention_mask")) -> Signature:
    types = tuple(TensorType((1, 8), "i64") for _ in names)
    return Signature(types, (TensorType((1, 8, 4), "f32"),), (), tuple(names))


def test_names_are_written_and_read_back_through_the_signature():
    from iree.compiler import ir

    from frontend_mess.backend.signature import annotate, name_arguments

    text = (
        "func.func @main(%a: tensor<2xf32>, %b: tensor<2xf32> {foo.keep = 1 : i32}) -> "
        "tensor<2xf32> {\n  %0 = arith.addf %a, %b : tensor<2xf32>\n  return %0 : tensor<2xf32>\n}"
    )
    context = ir.Context()
    module = ir.Module.parse(text, context)
    name_arguments(module, {"main": ["left", "right"]})
    named = str(module)
    assert f'{NAME_ATTR} = "left"' in named and "foo.keep = 1" in named  # others kept
    _, signatures = annotate(named)
    assert signatures["main"].names == ("left", "right")
    assert str(signatures["main"]) == "(left: 2xf32, right: 2xf32) -> (2xf32)"
    assert Signature.from_json(signatures["main"].to_json()) == signatures["main"]


def test_a_count_that_does_not_match_names_nothing():
    """An exporter that dropped an unused input must not shift every name by one."""
    from iree.compiler import ir

    from frontend_mess.backend.signature import annotate, name_arguments

    module = ir.Module.parse(
        "func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> { return %a : tensor<2xf32> }",
        ir.Context(),
    )
    name_arguments(module, {"main": ["x", "unused"]})
    assert NAME_ATTR not in str(module)
    assert annotate(str(module))[1]["main"].names == ()


def test_function_names_come_from_forward_or_the_wrapper():
    from frontend_mess.sources import Function

    class TwoArgs(torch.nn.Module):
        def forward(self, image, scale=None):
            return image

    assert Function(TwoArgs(), (torch.ones(1),)).input_names == ["image"]
    assert Function(TwoArgs(), (torch.ones(1), torch.ones(1))).input_names == ["image", "scale"]

    class Varargs(torch.nn.Module):
        def forward(self, *tensors):
            return tensors[0]

    assert Function(Varargs(), (torch.ones(1),)).input_names == []  # nothing to name them by


def test_named_run_inputs_are_placed_by_the_signature():
    from frontend_mess.backend.runtime import place_named_inputs

    signature = _signature()
    texts = ["attention_mask=mask.npy", "input_ids=1x8xi64=random"]
    assert place_named_inputs(texts, signature, "main") == ["1x8xi64=random", "mask.npy"]
    positional = ["ids.npy", "1x8xi64=random", "f32=random"]
    assert place_named_inputs(positional, signature, "main") == positional
    onnx_style = _signature(("input:0", "mask/1"))  # TensorFlow-converted ONNX names
    texts = ["mask/1=m.npy", "input:0=i.npy"]
    assert place_named_inputs(texts, onnx_style, "main") == ["i.npy", "m.npy"]


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["input_ids=a.npy", "b.npy"], "name every input"),
        (["input_ids=a.npy", "input_ids=b.npy"], "given twice"),
        (["input_ids=a.npy", "mask=b.npy"], "no input mask; its inputs are input_ids, attention"),
        (["input_ids=a.npy"], "attention_mask missing"),
    ],
)  # fmt: skip
def test_bad_named_inputs_are_one_clear_error(texts, message):
    from frontend_mess.backend.runtime import place_named_inputs

    with pytest.raises(FrontendError, match=message):
        place_named_inputs(texts, _signature(), "main")


def test_names_for_a_module_that_records_none_are_refused():
    from frontend_mess.backend.runtime import place_named_inputs

    with pytest.raises(FrontendError, match="records no input names"):
        place_named_inputs(["x=a.npy"], _signature(()), "main")


@pytest.mark.slow
@pytest.mark.parametrize(
    "via", ["fx-torch", "fx-linalg", "fx-stablehlo", "turbine", "onnx", "onnx-iree"]
)
def test_a_bert_keeps_its_input_names_on_every_path(via):
    import frontend_mess

    module = frontend_mess.compile(f"hf-config:{CONFIGS / 'bert'}.json", via=via).module()
    signature = module.signature(module.default_function())
    assert signature.names == ("input_ids", "attention_mask")


@pytest.mark.slow
def test_vision_cache_and_onnx_file_names():
    import onnx

    import frontend_mess

    def names(source, **options):
        module = frontend_mess.compile(source, **options).module()
        return {f: module.signature(f).names for f in module.functions() if "$" not in f}

    assert names(f"hf-config:{CONFIGS / 'vit'}.json", via="fx-tosa") == {"main": ("pixel_values",)}
    decoder = names(f"hf-config:{CONFIGS / 'llama'}.json", task="text-generation-with-past")
    assert decoder["prefill"] == ("input_ids",)
    assert decoder["decode_step"][:4] == (
        "token", "position", "past_key_values.0.key", "past_key_values.0.value"
    )  # fmt: skip
    merged = names(f"hf-config:{CONFIGS / 't5'}.json", via="onnx")  # two graphs, one module
    assert merged == {
        "encoder": ("input_ids", "attention_mask"),
        "decoder_step": ("decoder_input_ids", "encoder_hidden_states", "attention_mask"),
    }
    data = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
    assert names(str(data / "light_squeezenet.onnx")) == {"squeezenet_old": ("data_0",)}


@pytest.mark.slow
def test_run_by_name_equals_run_in_order(tmp_path):
    """The same arrays given by name in the other order give the same outputs as given in
    order, and differ from the swapped positional call (so the names really place them)."""
    import frontend_mess

    artifact = frontend_mess.compile(
        str(INPUTS / "zoo.py") + ":AddMul", input_shapes=["2x3", "2x3"]
    )
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal((2, 3)).astype(np.float32) for _ in range(2))
    names = artifact.module().signature("main").names
    assert len(names) == 2
    in_order = artifact.run(x, y)[0]
    by_name = artifact.run(**{names[1]: y, names[0]: x})[0]
    assert np.array_equal(in_order, by_name)
    assert not np.array_equal(in_order, artifact.run(y, x)[0])
    with pytest.raises(FrontendError, match="in order or all by name"):
        artifact.run(x, **{names[1]: y})
    assert np.array_equal(artifact.run(inputs={names[0]: x, names[1]: y})[0], in_order)

    path = tmp_path / "m.vmfb"
    artifact.save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    out = tmp_path / "out.npz"
    done = subprocess.run(
        [sys.executable, "-m", "frontend_mess", "run", str(path),
         "--input", f"{names[1]}={tmp_path / 'y.npy'}",
         "--input", f"{names[0]}={tmp_path / 'x.npy'}",
         "--output", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"main({names[0]}: 2x3xf32, {names[1]}: 2x3xf32)" in done.stdout
    assert np.array_equal(np.load(out)["output0"], in_order)


@pytest.mark.slow
def test_an_imported_module_compiles_with_names_and_stays_as_it_was():
    """`import` prints IR without IREE's ABI attributes (any MLIR tool reads it alike); its
    `.compile()` names a copy."""
    import frontend_mess

    model = frontend_mess.import_model(str(INPUTS / "mlp.py"), to="linalg")
    assert model.compile().module().signature("main").names == ("x",)
    assert NAME_ATTR not in model.text
