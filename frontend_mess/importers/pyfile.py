"""An `nn.Module` defined in a user's Python file: `path/model.py` or `path/model.py:NAME`.

NAME may be an `nn.Module` subclass (built with no arguments), a factory function returning a
module, or a module instance. Without NAME the file must define exactly one `nn.Module`
subclass. Example inputs come from an `example_inputs()` function in the file, if it has one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

from frontend_mess.support.errors import FrontendError, first_lines

SUFFIX = ".py"
EXAMPLE_INPUTS_FUNCTION = "example_inputs"


@dataclass
class LoadedFile:
    module: object  # torch.nn.Module
    example_args: tuple | None
    name: str


def split_source(source: str) -> tuple[Path, str | None]:
    """`dir/model.py:Net` -> (Path('dir/model.py'), 'Net')."""
    path, sep, name = source.rpartition(":")
    if sep and path.endswith(SUFFIX) and name:
        return Path(path), name
    return Path(source), None


def looks_like_python_file(source: str) -> bool:
    return str(split_source(source)[0]).endswith(SUFFIX)


def _load_python(path: Path):
    if not path.is_file():
        raise FrontendError(f"model file {path} does not exist")
    key = "frontend_mess_user_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise FrontendError(f"cannot load {path} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module  # dataclasses and pickling look their module up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[key]
        raise FrontendError(
            f"running {path} failed: {type(exc).__name__}: {first_lines(exc, 1)}"
        ) from None
    return module


def _module_classes(pymod) -> list[str]:
    import torch

    return [
        name
        for name, value in vars(pymod).items()
        if inspect.isclass(value)
        and issubclass(value, torch.nn.Module)
        and value.__module__ == pymod.__name__
    ]


def load(source: str) -> LoadedFile:
    import torch

    path, name = split_source(source)
    pymod = _load_python(path)
    if name is None:
        classes = _module_classes(pymod)
        if len(classes) != 1:
            found = ", ".join(classes) if classes else "none"
            raise FrontendError(
                f"{path} defines {len(classes)} nn.Module classes ({found}): "
                f"name one as {path}:NAME"
            )
        name = classes[0]
    if not hasattr(pymod, name):
        raise FrontendError(f"{path} has no {name!r}: name an nn.Module class or a factory")
    target = getattr(pymod, name)
    try:
        model = target if isinstance(target, torch.nn.Module) else target()
    except Exception as exc:
        raise FrontendError(
            f"building {path}:{name} failed: {type(exc).__name__}: {first_lines(exc, 1)}"
        ) from None
    if not isinstance(model, torch.nn.Module):
        raise FrontendError(f"{path}:{name} gave a {type(model).__name__}, not a torch.nn.Module")
    example_args = None
    maker = getattr(pymod, EXAMPLE_INPUTS_FUNCTION, None)
    if callable(maker):
        example_args = maker()
        if not isinstance(example_args, tuple | list):
            example_args = (example_args,)
        example_args = tuple(example_args)
    return LoadedFile(module=model.eval(), example_args=example_args, name=f"{path}:{name}")
