"""pixi.toml must be a valid pixi manifest and pin exactly what pyproject.toml pins."""

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "pixi" / "schema.json"


def load_toml(name: str) -> dict:
    return tomllib.loads((ROOT / name).read_text())


@pytest.mark.skipif(not SCHEMA.exists(), reason=f"pixi schema not found at {SCHEMA}")
def test_pixi_manifest_matches_schema():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(load_toml("pixi.toml"), schema)


def test_schema_rejects_a_broken_manifest():
    """The validation above can fail: an unknown top-level table is refused."""
    if not SCHEMA.exists():
        pytest.skip(f"pixi schema not found at {SCHEMA}")
    manifest = load_toml("pixi.toml") | {"not-a-pixi-table": {}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))


def pyproject_pins() -> dict[str, str]:
    project = load_toml("pyproject.toml")
    requirements = list(project["project"]["dependencies"])
    requirements += project["dependency-groups"]["dev"]
    return {Requirement(r).name: str(Requirement(r).specifier) for r in requirements}


def test_pixi_pins_equal_pyproject_pins():
    pixi = load_toml("pixi.toml")["pypi-dependencies"]
    pixi_pins = {name: spec for name, spec in pixi.items() if isinstance(spec, str)}
    assert pixi_pins == pyproject_pins()


def test_pixi_python_matches_requires_python():
    requires = load_toml("pyproject.toml")["project"]["requires-python"]
    assert load_toml("pixi.toml")["dependencies"]["python"] == "3.11.*"
    assert requires == ">=3.11,<3.12"


def test_pixi_tasks_run_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    tasks = load_toml("pixi.toml")["tasks"]
    assert f"uv run {tasks['demo']}" in readme
    test_steps = [f"uv run {step.strip()}" for step in tasks["test"].split("&&")]
    assert " && ".join(test_steps) in readme
