"""pixi.toml must be a valid pixi manifest and pin exactly what pyproject.toml pins.

pixi's manifest schema is not in this repository: it lives in ../shared/pixi/schema.json beside
the clone, which CI has, so the schema checks skip on an ordinary clone. Everything else here
needs only the files in the repository and runs everywhere.
"""

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "pixi" / "schema.json"
NO_SCHEMA = (
    f"pixi manifest schema not found at {SCHEMA}: it lives in ../shared/pixi/schema.json "
    "beside the clone, which CI has; the schema-free checks below still ran"
)
SELF = "frontend-mess"  # the project itself: pixi installs it from the checkout, editable


def load_toml(name: str) -> dict:
    return tomllib.loads((ROOT / name).read_text())


@pytest.mark.skipif(not SCHEMA.exists(), reason=NO_SCHEMA)
def test_pixi_manifest_matches_schema():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(load_toml("pixi.toml"), schema)


@pytest.mark.skipif(not SCHEMA.exists(), reason=NO_SCHEMA)
def test_schema_rejects_a_broken_manifest():
    """The validation above can fail: an unknown top-level table is refused."""
    manifest = load_toml("pixi.toml") | {"not-a-pixi-table": {}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))


# Schema-free checks: they need only the repository, so they run on every clone.


def test_pixi_manifest_is_toml_with_the_tables_pixi_needs():
    manifest = tomllib.loads((ROOT / "pixi.toml").read_text())
    assert {"workspace", "dependencies", "pypi-dependencies", "tasks"} <= manifest.keys()
    assert manifest["workspace"]["name"] == load_toml("pyproject.toml")["project"]["name"]
    assert manifest["workspace"]["channels"] == ["conda-forge"]


def pyproject_pins() -> dict[str, SpecifierSet]:
    """Project dependencies and the dev group: what `uv run` installs."""
    project = load_toml("pyproject.toml")
    requirements = [Requirement(r) for r in project["project"]["dependencies"]]
    requirements += [Requirement(r) for r in project["dependency-groups"]["dev"]]
    # Extras or markers would need pixi's table form; none are used, so say so loudly if added.
    assert not [str(r) for r in requirements if r.extras or r.marker]
    return {canonicalize_name(r.name): r.specifier for r in requirements}


def pixi_pins() -> dict[str, SpecifierSet]:
    """[pypi-dependencies] without the project's own editable entry."""
    pins = load_toml("pixi.toml")["pypi-dependencies"]
    return {canonicalize_name(n): SpecifierSet(s) for n, s in pins.items() if n != SELF}


def test_pixi_installs_the_project_itself_editable():
    assert load_toml("pixi.toml")["pypi-dependencies"][SELF] == {"path": ".", "editable": True}


def names_of(pins) -> list[str]:
    """Parameters read at collection: a manifest that does not parse must fail
    test_pixi_manifest_is_toml_with_the_tables_pixi_needs, not abort the whole module."""
    try:
        return sorted(pins())
    except (tomllib.TOMLDecodeError, KeyError):
        return []


@pytest.mark.parametrize("name", names_of(pyproject_pins))
def test_every_pyproject_pin_is_in_pixi(name):
    pixi = pixi_pins()
    assert name in pixi, f"{name} is in pyproject.toml but not in pixi.toml"
    assert pixi[name] == pyproject_pins()[name]


@pytest.mark.parametrize("name", names_of(pixi_pins))
def test_every_pixi_pin_is_in_pyproject(name):
    pyproject = pyproject_pins()
    assert name in pyproject, f"{name} is in pixi.toml but not in pyproject.toml"
    assert pixi_pins()[name] == pyproject[name]


def test_pixi_pin_sets_are_equal():
    """The two lists above, as one comparison whose failure shows the whole difference."""
    assert {n: str(s) for n, s in pixi_pins().items()} == {
        n: str(s) for n, s in pyproject_pins().items()
    }


def conda_as_pep440(spec: str) -> SpecifierSet:
    """A conda version spec as PEP 440: `3.11.*` is `==3.11.*`; `>=3.11,<3.12` is the same."""
    return SpecifierSet(",".join(f"=={p}" if p[:1].isdigit() else p for p in spec.split(",")))


def test_pixi_python_matches_requires_python():
    """Both admit exactly the same Python versions (checked on every patch release that could
    matter), so bumping one without the other fails here."""
    requires = SpecifierSet(load_toml("pyproject.toml")["project"]["requires-python"])
    pixi = conda_as_pep440(load_toml("pixi.toml")["dependencies"]["python"])
    versions = [f"3.{minor}.{patch}" for minor in range(8, 16) for patch in (0, 1, 9, 20)]
    assert [v for v in versions if v in pixi] == [v for v in versions if v in requires]
    assert any(v in requires for v in versions)  # not vacuously equal: both admit something


def quick_start_commands() -> list[str]:
    """The lines of the first code block under README.md's `## Quick start`."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```\w*\n(.*?)```", section, re.DOTALL)
    assert block, "README.md's Quick start has no code block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def without_uv_run(command: str) -> str:
    return command.replace("uv run ", "")


def test_pixi_test_task_is_the_readme_test_command():
    (line,) = [
        c for c in quick_start_commands() if c.startswith("uv run pytest") and "&& uv run lit" in c
    ]
    assert load_toml("pixi.toml")["tasks"]["test"] == without_uv_run(line)


def test_pixi_demo_task_is_the_readme_first_import_command():
    steps = [s.strip() for c in quick_start_commands() for s in c.split("&&")]
    first_import = next(s for s in steps if s.startswith("uv run frontend-mess import "))
    assert load_toml("pixi.toml")["tasks"]["demo"] == without_uv_run(first_import)


def test_readme_pixi_run_names_real_tasks():
    """`pixi run NAME` in README.md names a task pixi.toml defines."""
    named = set(re.findall(r"pixi run ([\w-]+)", (ROOT / "README.md").read_text()))
    assert named, "README.md shows no `pixi run` command"
    assert named <= load_toml("pixi.toml")["tasks"].keys()


def test_every_extra_is_a_pixi_feature_with_the_same_pins():
    """pyproject's optional extras (`uv sync --extra ray`) are pixi features and environments
    (`pixi shell -e ray`), pinned alike."""
    extras = load_toml("pyproject.toml")["project"].get("optional-dependencies", {})
    manifest = load_toml("pixi.toml")
    features = manifest.get("feature", {})
    for extra, requirements in extras.items():
        pins = features[extra]["pypi-dependencies"]
        for requirement in map(Requirement, requirements):
            assert SpecifierSet(pins[requirement.name]) == requirement.specifier
        assert manifest["environments"][extra] == [extra]
