"""Versions of the upstream tools, read from the environment (the pins live in pyproject.toml
and uv.lock; pixi.toml mirrors them and a unit test keeps the two equal)."""

from __future__ import annotations

import functools
from importlib import metadata

# The upstream distributions whose versions decide whether an import works.
TOOLS = (
    "torch",
    "torchvision",
    "torch-mlir",
    "iree-base-compiler",
    "iree-base-runtime",
    "iree-turbine",
    "transformers",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "numpy",
)


def tool_versions() -> dict[str, str]:
    """Installed version of each tool, or "missing" (read once per process)."""
    return dict(_tool_versions())


@functools.cache
def _tool_versions() -> dict[str, str]:
    found = {}
    for name in TOOLS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def frontend_mess_version() -> str:
    try:
        return metadata.version("frontend-mess")
    except metadata.PackageNotFoundError:
        return "unknown"
