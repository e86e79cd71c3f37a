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
