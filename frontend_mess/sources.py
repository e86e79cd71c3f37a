"""The source resolver: one place that turns what a user names into a model and its inputs.

The CLI and the Python API both call `resolve`, so `frontend-mess import X` and
`import_model("X")` can never disagree about what X means.

Accepted forms:
  NAME, torchvision:NAME     a torchvision classification model (random weights by default)
  path/model.py[:NAME]       an nn.Module class, factory or instance in a Python file
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from .errors import FrontendError
from .importers import pyfile, torchvision
from .shapes import InputSpec, random_inputs, spec_of

FORMS = "a torchvision model name (see `frontend-mess models`) or path/model.py[:NAME]"


@dataclass
class ModelSource:
    name: str
    module: object  # torch.nn.Module
    example_args: tuple

    @property
    def input_specs(self) -> list[InputSpec]:
        return [spec_of(a) for a in self.example_args]


def known_models() -> dict[str, InputSpec]:
    """Named sources and the input each is imported with by default."""
    return {
        f"{torchvision.PREFIX}{name}": torchvision.default_input_spec(name)
        for name in torchvision.model_names()
    }


def _inputs(name: str, given: list[InputSpec] | None, default: tuple | None) -> tuple:
    if given:
        return random_inputs(given)
    if default is None:
        raise FrontendError(
            f"{name} has no example inputs: define example_inputs() in the file or pass "
            f"--input-shape, e.g. --input-shape 1x3x224x224"
        )
    return default


def resolve(
    source: str, *, input_specs: list[InputSpec] | None = None, weights: str | Path | None = None
) -> ModelSource:
    """Turn a source string into a module in eval mode and example inputs for it."""
    if pyfile.looks_like_python_file(source):
        if weights is not None:
            raise FrontendError("--weights applies to torchvision models; load weights in the file")
        loaded = pyfile.load(source)
        return ModelSource(
            loaded.name, loaded.module, _inputs(loaded.name, input_specs, loaded.example_args)
        )
    name = source.removeprefix(torchvision.PREFIX)
    if torchvision.is_model_name(name):
        model = torchvision.build(name, weights)
        default = random_inputs([torchvision.default_input_spec(name)])
        return ModelSource(
            f"{torchvision.PREFIX}{name}", model, _inputs(name, input_specs, default)
        )
    if source.startswith(torchvision.PREFIX):
        torchvision.build(name)  # raises the unknown-name error with suggestions
    if Path(source).exists():
        raise FrontendError(f"{source} is not a model source frontend-mess can read: give {FORMS}")
    close = difflib.get_close_matches(name, torchvision.model_names(), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"give {FORMS}"
    raise FrontendError(f"unknown model {source!r}: {hint}")
