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
