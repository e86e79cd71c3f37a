"""torchvision models by name, with random weights unless a state dict is given: the
classification models, and the other families `torchvision.models.get_model` builds
(segmentation, video, optical flow, detection, quantization), each with its own inputs.

The default input size comes from the DEFAULT weights' evaluation transform (inception_v3: 299,
efficientnet_b7: 600), which torchvision knows without downloading anything, except for ViTs:
torchvision builds a weightless ViT for 224x224 and only its SWAG weights (vit_h_14: 518) change
that, so a randomly initialised ViT takes 224.
"""

from __future__ import annotations

import difflib
import functools
import json
import warnings
from importlib import metadata
from pathlib import Path

from frontend_mess.defaults import DEFAULT_IMAGE_SIZE
from frontend_mess.shapes import InputSpec
from frontend_mess.support.errors import FrontendError, first_lines

PREFIX = "torchvision:"
VIT_PREFIX = "vit_"


#: the classification models of one torchvision release and their default image sizes, so
#: `models`, `--help` and a name check need not import torchvision (4 s here). Written by
#: scripts/torchvision_catalog.py; tests/unit/test_sources.py holds it equal to torchvision.
CATALOG = Path(__file__).with_name("data") / "torchvision_models.json"


@functools.cache
def catalog() -> dict[str, int]:
    """Every classification model torchvision registers (not detection or segmentation) ->
    its default image size: the static catalog where it was made for the installed
    torchvision, else asked of torchvision itself (another release, as in an env variant)."""
    data = json.loads(CATALOG.read_text())
    try:
        installed = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        installed = None
    if data["torchvision"] == installed:
        return dict(data["models"])
    return live_catalog()


def live_catalog() -> dict[str, int]:
    """The catalog as torchvision reports it (imports torchvision)."""
    from torchvision import models

    return {name: live_image_size(name) for name in sorted(models.list_models(module=models))}


#: the families beyond classification: torchvision.models' submodule of each
FAMILIES = ("segmentation", "video", "optical_flow", "detection", "quantization")
#: a video clip's frames: what torchvision's video models are trained on (mvit's temporal
#: position embedding takes exactly 16)
VIDEO_FRAMES = 16
#: optical flow: two images of RAFT's smallest size (its weights' `min_size`: 128x128)
FLOW_SIZE = 128
#: detection: one image of a fixed size (the models resize it themselves; 320 is what the
#: smallest, ssdlite320 and fasterrcnn_mobilenet_v3_large_320_fpn, are made for)
DETECTION_SIZE = 320


@functools.cache
def families() -> dict[str, dict[str, list[list[int]]]]:
    """Family -> model name -> the shape of each input, from the static catalog where it was
    made for the installed torchvision, else from torchvision itself."""
    data = json.loads(CATALOG.read_text())
    try:
        installed = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        installed = None
    if data["torchvision"] == installed and "families" in data:
        return data["families"]
    return live_families()


def live_families() -> dict[str, dict[str, list[list[int]]]]:
    """The families as torchvision reports them (imports torchvision)."""
    from torchvision import models

    found: dict[str, dict[str, list[list[int]]]] = {}
    for family in FAMILIES:
        module = getattr(models, family)
        found[family] = {
            name: _family_inputs(family, name) for name in sorted(models.list_models(module=module))
        }
    return found


def _family_inputs(family: str, name: str) -> list[list[int]]:
    from torchvision import models

    transforms = models.get_model_weights(name).DEFAULT.transforms()
    if family == "segmentation":  # SemanticSegmentation(resize_size=[520])
        size = int(transforms.resize_size[0])
        return [[1, 3, size, size]]
    if family == "video":  # VideoClassification(crop_size=[112, 112])
        size = int(transforms.crop_size[0])
        return [[1, 3, VIDEO_FRAMES, size, size]]
    if family == "optical_flow":
        return [[1, 3, FLOW_SIZE, FLOW_SIZE]] * 2
    if family == "detection":
        return [[1, 3, DETECTION_SIZE, DETECTION_SIZE]]
    size = int(transforms.crop_size[0])  # quantization: ImageClassification
    return [[1, 3, size, size]]


def family_of(name: str) -> str | None:
    """`classification`, one of FAMILIES, or None for a name torchvision does not build."""
    if name in catalog():
        return "classification"
    return next((f for f, names in families().items() if name in names), None)


def model_names() -> list[str]:
    """The classification models (the `torchvision` matrix suite)."""
    return sorted(catalog())


def all_model_names() -> list[str]:
    return sorted([*catalog(), *(n for names in families().values() for n in names)])


def is_model_name(name: str) -> bool:
    return family_of(name) is not None


def suggest(name: str) -> list[str]:
    return difflib.get_close_matches(name, all_model_names(), n=3, cutoff=0.5)


def default_image_size(name: str) -> int:
    return catalog()[name]


def live_image_size(name: str) -> int:
    from torchvision import models

    if name.startswith(VIT_PREFIX):
        return DEFAULT_IMAGE_SIZE

    weights = models.get_model_weights(name).DEFAULT
    crop = getattr(weights.transforms(), "crop_size", None)
    return int(crop[0]) if crop else DEFAULT_IMAGE_SIZE


def default_input_spec(name: str) -> InputSpec:
    return default_input_specs(name)[0]


def default_input_specs(name: str) -> list[InputSpec]:
    """The inputs a model is imported with by default: an image batch for classification and
    segmentation, N x C x T x H x W for video, two images for optical flow."""
    family = family_of(name)
    if family is None or family == "classification":
        size = default_image_size(name)
        return [InputSpec(shape=(1, 3, size, size))]
    return [InputSpec(shape=tuple(shape)) for shape in families()[family][name]]


def what_is_fixed(name: str) -> str | None:
    """What a family's export fixes, said with the model's choices (None: nothing special)."""
    family = family_of(name)
    if family == "detection":
        return (
            f"the dense network: a {DETECTION_SIZE}x{DETECTION_SIZE} image, normalized, not "
            f"resized; backbone and heads' raw outputs; box decoding and NMS left out "
            f"(data-dependent)"
        )
    if family == "quantization":
        return (
            "quantize=False: the float model with quantization stubs (fbgemm kernels do not export)"
        )
    if family == "optical_flow":
        return "two images in, every flow refinement out (12 by default)"
    return None


def _pair_depthwise_conv3d(model):
    """Each depthwise 3-D convolution (mvit's attention pooling: Conv3d with groups equal to
    its channels) as a grouped one over channel pairs, with the weight spread over each
    pair's two inputs and zeros elsewhere: the same sums. torch-mlir lowers grouped 3-D
    convolutions (torch-mlir #4354) but not the depthwise special case it takes first
    ("failed to legalize operation 'torch.aten.convolution'"; the 3-D depthwise item of
    torch-mlir #3858, open). Only the models frontend-mess builds are changed. Test:
    tests/unit/test_torch_importer.py::test_depthwise_conv3d_imports_as_channel_pairs."""
    import torch

    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if (
                type(child) is torch.nn.Conv3d
                and child.groups > 1
                and child.groups == child.in_channels == child.out_channels
                and child.in_channels % 2 == 0
                and child.padding_mode == "zeros"
            ):
                setattr(parent, child_name, PairedDepthwiseConv3d(child))
    return model


def PairedDepthwiseConv3d(conv):  # noqa: N802 - a module class, made where torch is loaded
    import torch

    class Paired(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.weight, self.bias = inner.weight, inner.bias  # the same parameters
            self.stride, self.padding, self.dilation = inner.stride, inner.padding, inner.dilation
            channels = inner.in_channels
            # output channel o reads input 2*(o//2) + (o%2) of its pair: position o % 2
            mask = torch.zeros(channels, 2, 1, 1, 1)
            mask[torch.arange(channels), torch.arange(channels) % 2] = 1.0
            self.register_buffer("mask", mask)

        def forward(self, x):
            weight = self.weight.repeat(1, 2, 1, 1, 1) * self.mask
            return torch.nn.functional.conv3d(
                x,
                weight,
                self.bias,
                self.stride,
                self.padding,
                self.dilation,
                self.weight.shape[0] // 2,
            )

    return Paired(conv)


def detection_dense(model):
    """The data-independent part of a detection model, as the field exports it: the image
    normalized as the model's own transform does (not resized: the image size is fixed),
    the backbone, and the heads' raw outputs, flattened with their names kept as the keys
    (`cls_logits`, `bbox_regression`; a two-stage model's RPN `objectness.0`,
    `bbox_deltas.0`, ...). Anchor decoding, top-k and NMS (whose sizes depend on the data)
    are left out: torch.export cannot trace them with a fixed size (a data-dependent guard,
    as `export` of the whole model says)."""
    from collections import OrderedDict

    import torch

    class DetectionDense(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.model = inner
            transform = inner.transform
            self.register_buffer("mean", torch.tensor(transform.image_mean)[None, :, None, None])
            self.register_buffer("std", torch.tensor(transform.image_std)[None, :, None, None])

        def forward(self, images):
            features = self.model.backbone((images - self.mean) / self.std)
            if isinstance(features, torch.Tensor):
                features = OrderedDict([("0", features)])
            levels = list(features.values())
            if hasattr(self.model, "rpn"):  # two-stage: the region proposals' head
                objectness, deltas = self.model.rpn.head(levels)
                return {
                    **{f"objectness.{i}": o for i, o in enumerate(objectness)},
                    **{f"bbox_deltas.{i}": d for i, d in enumerate(deltas)},
                }
            return dict(self.model.head(levels))

    return DetectionDense(model)


def build(name: str, weights: str | Path | None = None):
    """Build the model in eval mode; `weights` is a state-dict file written by `torch.save`."""
    import torch
    from torchvision import models

    if not is_model_name(name):
        close = suggest(name)
        hint = f"did you mean {', '.join(close)}?" if close else "run `frontend-mess models`"
        raise FrontendError(f"unknown torchvision model {name!r}: {hint}")
    family = family_of(name)
    extra = {"weights_backbone": None} if family in ("segmentation", "detection") else {}
    with warnings.catch_warnings():  # inception_v3/googlenet warn about a future init change
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        model = models.get_model(name, weights=None, **extra)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise FrontendError(f"weights file {path} does not exist")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise FrontendError(
                f"cannot read weights file {path}: {first_lines(exc, 1)} "
                f"(expected a state dict saved with torch.save)"
            ) from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except Exception as exc:
            raise FrontendError(
                f"weights file {path} does not fit {name}: {first_lines(exc, 2)}"
            ) from None
    else:
        _redraw_zero_heads(model)
    model = _pair_depthwise_conv3d(model).eval()
    return detection_dense(model).eval() if family == "detection" else model


def _redraw_zero_heads(model) -> None:
    """Random weights that say something: torchvision's ViTs initialize their classifier
    (`heads.head`) to zeros, so a weightless vit_b_16 returns 0 for every image and a check
    against PyTorch compares zeros with zeros (the matrix's `weak_check`). A Linear whose
    weight is all zero gets nn.Linear's own initialization instead, drawn from the seeded
    generator; a given --weights file is never touched.
    Test: tests/unit/test_torchvision_families.py::test_random_vit_output_depends_on_the_image."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and not module.weight.any():
            module.reset_parameters()
