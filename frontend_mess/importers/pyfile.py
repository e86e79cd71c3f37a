"""An `nn.Module` defined in a user's Python file: `path/model.py` or `path/model.py:NAME`.

NAME may be an `nn.Module` subclass (built with no arguments), a factory function returning a
module, or a module instance. Without NAME the file must define exactly one `nn.Module`
subclass. Example inputs come from an `example_inputs()` function in the file, if it has one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from frontend_mess.support.errors import FrontendError, first_lines
from frontend_mess.support.paths import input_file

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
    input_file(path, "model file")
    key = "frontend_mess_user_" + hashlib.sha1(os.fsencode(path.resolve())).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise FrontendError(f"cannot load {path} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module  # dataclasses and pickling look their module up here
    try:
        with _user_code(f"running {path}"):
            spec.loader.exec_module(module)
    except FrontendError:
        del sys.modules[key]
        raise
    return module


@contextmanager
def _user_code(what: str) -> Iterator[None]:
    """Run code from the user's file: its failures, `sys.exit()` included, become one error
    that says which step of the file failed (a model file is code the user asked to run; it
    still may not end the command with a made-up exit status, or with success)."""
    try:
        yield
    except SystemExit as exc:
        raise FrontendError(
            f"{what} called sys.exit({exc.code!r}): a model file must not exit; frontend-mess "
            f"stopped and treats that as a failure"
        ) from None
    except RecursionError:
        raise FrontendError(f"{what} failed: infinite recursion (RecursionError)") from None
    except Exception as exc:
        raise FrontendError(f"{what} failed: {type(exc).__name__}: {first_lines(exc, 1)}") from exc


def _is_example_value(value, torch) -> bool:
    if isinstance(value, tuple | list):
        return all(_is_example_value(v, torch) for v in value)
    if isinstance(value, dict):
        return all(_is_example_value(v, torch) for v in value.values())
    return value is None or isinstance(value, torch.Tensor | int | float | bool)


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
    if not (isinstance(target, torch.nn.Module) or callable(target)):
        raise FrontendError(f"{path}:{name} is a {type(target).__name__}, not an nn.Module")
    with _user_code(f"building {path}:{name}"):
        model = target if isinstance(target, torch.nn.Module) else target()
    if not isinstance(model, torch.nn.Module):
        raise FrontendError(f"{path}:{name} gave a {type(model).__name__}, not a torch.nn.Module")
    example_args = None
    maker = getattr(pymod, EXAMPLE_INPUTS_FUNCTION, None)
    if callable(maker):
        with _user_code(f"{EXAMPLE_INPUTS_FUNCTION}() in {path}"):
            example_args = maker()
        if not isinstance(example_args, tuple | list):
            example_args = (example_args,)
        example_args = tuple(example_args)
        wrong = [type(a).__name__ for a in example_args if not _is_example_value(a, torch)]
        if wrong:
            raise FrontendError(
                f"{EXAMPLE_INPUTS_FUNCTION}() in {path} returned {', '.join(wrong)}: it must "
                f"return a tensor or a tuple of tensors (numbers and None are allowed too)"
            )
    return LoadedFile(module=model.eval(), example_args=example_args, name=f"{path}:{name}")
