"""torchvision classification models by name, with random weights unless a state dict is given.

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


def model_names() -> list[str]:
    return sorted(catalog())


def is_model_name(name: str) -> bool:
    return name in catalog()


def suggest(name: str) -> list[str]:
    return difflib.get_close_matches(name, model_names(), n=3, cutoff=0.5)


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
    size = default_image_size(name)
    return InputSpec(shape=(1, 3, size, size))


def build(name: str, weights: str | Path | None = None):
    """Build the model in eval mode; `weights` is a state-dict file written by `torch.save`."""
    import torch
    from torchvision import models

    if not is_model_name(name):
        close = suggest(name)
        hint = f"did you mean {', '.join(close)}?" if close else "run `frontend-mess models`"
        raise FrontendError(f"unknown torchvision model {name!r}: {hint}")
    with warnings.catch_warnings():  # inception_v3/googlenet warn about a future init change
        warnings.simplefilter("ignore", FutureWarning)
        model = models.get_model(name, weights=None)
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
    return model.eval()
