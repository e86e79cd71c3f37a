"""Environment variants (envs/NAME, frontend_mess/envs.py): what each one moves, that its lock
holds it, the one-line errors, and a command run again inside a built variant."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from frontend_mess import envs
from frontend_mess.cli import main
from frontend_mess.support.errors import EXIT_USAGE, FrontendError

ROOT = Path(__file__).resolve().parents[2]


def test_each_variant_moves_its_pins_and_its_lock_holds_them():
    found = envs.variants()
    assert {"torch-next", "iree-prev"} <= set(found)
    assert "torch==2.15.0" in found["torch-next"].overrides
    assert "iree-base-compiler==3.12.0" in found["iree-prev"].overrides
    for variant in found.values():
        with (variant.root / "uv.lock").open("rb") as handle:
            locked = {p["name"]: p.get("version") for p in tomllib.load(handle)["package"]}
        assert locked, variant.name
        for requirement in variant.overrides:
            name, _, version = requirement.partition("==")
            assert locked[name] == version, (variant.name, name, locked.get(name))


def test_unknown_and_unbuilt_variants_are_one_line(tmp_path, capsys):
    with pytest.raises(FrontendError, match="unknown environment variant 'nope': use one of"):
        envs.variant("nope")
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(FrontendError, match=r"not built .* `uv sync --project envs/later`"):
        envs.variant("later", root=tmp_path)
    assert main(["versions", "--env", "nope"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unknown environment variant" in err


needs_iree_prev = pytest.mark.skipif(
    not envs.variants()["iree-prev"].built,
    reason="envs/iree-prev is not built (.ci/run builds it: uv sync --project envs/iree-prev)",
)


@needs_iree_prev
def test_versions_runs_again_inside_the_variant():
    done = subprocess.run(
        [sys.executable, "-m", "frontend_mess", "versions", "--env", "iree-prev"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "environment variant iree-prev" in done.stdout
    assert "iree-base-compiler 3.12.0" in done.stdout and "torch 2.14.1" in done.stdout


@pytest.mark.slow
@needs_iree_prev
def test_a_matrix_cell_in_a_variant_records_it(tmp_path):
    output = tmp_path / "m.jsonl"
    command = [sys.executable, "-m", "frontend_mess", "matrix", "--env", "iree-prev"]
    command += ["--suite", "onnx-node", "--match", "test_abs", "-o", str(output), "-q"]
    subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert records and all(r["env"] == "iree-prev" for r in records)
    assert {r["versions"]["iree-base-compiler"] for r in records} == {"3.12.0"}
    assert any(r["status"] == "pass" for r in records), records
