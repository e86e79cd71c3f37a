"""Shared paths for the unit tests."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def inputs_dir() -> Path:
    """The model files the lit tests use; the unit tests import the same ones."""
    return ROOT / "tests" / "filecheck" / "Inputs"


@pytest.fixture(autouse=True)
def _no_default_store(monkeypatch):
    """Tests do not read or fill the user's store (~/.cache/frontend-mess/store): a cached
    stage would hide the work a test means to check. The store's own tests name one."""
    monkeypatch.setenv("FRONTEND_MESS_STORE", "off")


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` run where an NVIDIA GPU is (`pytest -m gpu` on such a machine) and
    skip elsewhere with the reason, which `-rs` (pyproject's addopts) prints."""
    from frontend_mess.backend.targets import gpu_present

    if gpu_present():
        return
    skip = pytest.mark.skip(
        reason="gpu: no NVIDIA GPU here (no /dev/nvidia*); run `pytest -m gpu` on a machine "
        "with one (README: CUDA)"
    )
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
