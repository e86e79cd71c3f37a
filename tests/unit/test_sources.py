"""The resolver that the CLI and the API share."""

import pytest
import torch

from frontend_mess.importers import torchvision_models as tv
from frontend_mess.shapes import parse_input_spec
from frontend_mess.sources import SourceOptions, known_models, resolve
from frontend_mess.support.errors import FrontendError

pytestmark = pytest.mark.slow


def test_torchvision_names_with_and_without_prefix_agree():
    bare, prefixed = resolve("squeezenet1_1"), resolve("torchvision:squeezenet1_1")
    assert bare.name == prefixed.name == "torchvision:squeezenet1_1"
    assert bare.main.input_specs == prefixed.main.input_specs
    assert not bare.main.module.training


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("resnet18", 224),
        ("inception_v3", 299),
        ("efficientnet_b1", 240),
        ("vit_h_14", 224),
        ("swin_v2_t", 256),
    ],
)
def test_default_input_size(name, size):
    assert tv.default_input_spec(name).shape == (1, 3, size, size)


def test_static_catalog_is_torchvisions_own():
    """The catalog `models` and name checks read without importing torchvision is the one
    torchvision reports, for the pinned release (scripts/torchvision_catalog.py rewrites it)."""
    import json
    from importlib import metadata

    data = json.loads(tv.CATALOG.read_text())
    assert data["torchvision"] == metadata.version("torchvision"), "rerun the catalog script"
    assert data["models"] == tv.live_catalog()
    assert data["families"] == tv.live_families()


def test_every_classification_model_is_listed():
    names = known_models()
    assert len(tv.model_names()) >= 80 and "torchvision:resnet18" in names
    assert not any("fasterrcnn" in n for n in tv.model_names())  # the classifiers only


@pytest.mark.parametrize(
    ("name", "family", "shapes"),
    [
        ("fcn_resnet50", "segmentation", [(1, 3, 520, 520)]),
        ("r3d_18", "video", [(1, 3, 16, 112, 112)]),
        ("mvit_v2_s", "video", [(1, 3, 16, 224, 224)]),
        ("raft_small", "optical_flow", [(1, 3, 128, 128), (1, 3, 128, 128)]),
        ("ssdlite320_mobilenet_v3_large", "detection", [(1, 3, 320, 320)]),
        ("quantized_resnet18", "quantization", [(1, 3, 224, 224)]),
        ("resnet18", "classification", [(1, 3, 224, 224)]),
    ],
)
def test_every_family_is_accepted_by_name_with_its_inputs(name, family, shapes):
    assert tv.family_of(name) == family
    assert [s.shape for s in tv.default_input_specs(name)] == shapes
    assert f"torchvision:{name}" in known_models()


def test_the_families_are_all_of_torchvisions_models():
    families = tv.families()
    assert set(families) == set(tv.FAMILIES)
    assert len(families["segmentation"]) == 6 and len(families["video"]) == 9
    assert len(families["detection"]) == 12 and len(families["optical_flow"]) == 2


def test_input_shape_overrides_the_default():
    source = resolve("squeezenet1_1", SourceOptions(input_specs=[parse_input_spec("2x3x64x64")]))
    assert source.main.example_args[0].shape == (2, 3, 64, 64)


def test_unknown_name_suggests_close_ones():
    with pytest.raises(FrontendError, match="did you mean resnet18"):
        resolve("resnet81")


def test_python_file_with_example_inputs(inputs_dir):
    source = resolve(str(inputs_dir / "mlp.py"))
    assert source.name.endswith("mlp.py:MLP")
    assert source.main.example_args[0].shape == (8, 16)


def test_python_file_factory_needs_an_input_shape(inputs_dir):
    with pytest.raises(FrontendError, match="has no example inputs"):
        resolve(f"{inputs_dir / 'zoo.py'}:make_conv")
    source = resolve(
        f"{inputs_dir / 'zoo.py'}:make_conv",
        SourceOptions(input_specs=[parse_input_spec("1x3x8x8")]),
    )
    assert isinstance(source.main.module, torch.nn.Sequential)


def test_weights_file(tmp_path):
    model = tv.build("squeezenet1_1")
    torch.nn.init.constant_(model.classifier[1].bias, 0.25)
    path = tmp_path / "sq.pt"
    torch.save(model.state_dict(), path)
    loaded = resolve("squeezenet1_1", SourceOptions(weights=path)).main.module
    assert torch.all(loaded.classifier[1].bias == 0.25)


def test_weights_that_do_not_fit(tmp_path):
    path = tmp_path / "bad.pt"
    torch.save({"nope": torch.ones(1)}, path)
    with pytest.raises(FrontendError, match="does not fit squeezenet1_1"):
        resolve("squeezenet1_1", SourceOptions(weights=path))


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("torchvision:resnet18", "resnet18"),
        ("resnet18", "resnet18"),
        ("dir/model.py:Net", "Net"),
        ("dir/model.py", "model"),
        ("hf-config:frontend_mess/matrix/data/hf-tiny/bert.json", "bert"),
        ("hf:./my-bert/", "my-bert"),
        ("x/net.onnx", "net"),
        ("m.tosa.mlir", "m.tosa"),
    ],
)
def test_short_name(source, name):
    from frontend_mess.sources import short_name

    assert short_name(source) == name
