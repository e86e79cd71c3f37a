"""Environment variants (envs/NAME, frontend_mess/envs.py): what each one moves, that its lock
holds it, the one-line errors, and a command run again inside a built variant."""

import json
import os
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


def _committed_variant_slice(name: str, count: int = 3) -> list[dict]:
    """Every k-th quick cell of a variant's committed drift run (reports/drift/NAME/), made
    on this kind of host (`--cpu host` verdicts depend on it)."""
    from frontend_mess.backend.targets import host_isa
    from frontend_mess.matrix.report import cell_key
    from frontend_mess.matrix.runner import read_results

    paths = sorted((ROOT / "reports" / "drift" / name).glob("matrix-*.jsonl"))
    records = sorted((r for p in paths for r in read_results(p)), key=cell_key)
    assert records, f"no committed {name} drift records"
    quick = [
        r
        for r in records
        if r["status"] not in ("timeout", "crash")
        and sum(r["seconds"].values()) <= 40
        and r.get("host_isa") in (None, host_isa())
    ]
    return quick[:: max(1, len(quick) // count)][:count]


@pytest.mark.slow
@needs_iree_prev
def test_a_slice_of_the_committed_variant_run_ends_the_same(tmp_path):
    """Rerunning a variant's slice gives the committed statuses and error classes."""
    from frontend_mess.backend.targets import host_isa

    chosen = _committed_variant_slice("iree-prev")
    if not chosen:  # a verdict may depend on the vector width (notes/matrix.md: host_isa)
        pytest.skip(f"no committed iree-prev drift record is from a {host_isa()} host")
    fields = ("suite", "source", "path", "target", "compile_only")
    (tmp_path / "cells.json").write_text(json.dumps([{k: r[k] for k in fields} for r in chosen]))
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from frontend_mess.matrix.runner import run_matrix\n"
        "cells = json.loads(Path(sys.argv[1]).read_text())\n"
        "run_matrix(cells, Path(sys.argv[2]), jobs=2, timeout_s=600)\n"
    )
    python = str(envs.variant("iree-prev").python)
    environment = {**os.environ, envs.ENV_VAR: "iree-prev"}
    output = tmp_path / "rerun.jsonl"
    subprocess.run(
        [python, "-c", code, str(tmp_path / "cells.json"), str(output)],
        check=True,
        timeout=1200,
        env=environment,
        capture_output=True,
    )
    rerun = {r["source"] + r["path"]: r for r in map(json.loads, output.read_text().splitlines())}
    for committed in chosen:
        got = rerun[committed["source"] + committed["path"]]
        assert got["env"] == "iree-prev"
        assert (got["status"], got["error_class"]) == (
            committed["status"],
            committed["error_class"],
        ), committed["source"]


def test_a_variant_name_left_in_the_shell_does_not_relabel_the_default(monkeypatch):
    monkeypatch.setenv(envs.ENV_VAR, "torch-next")
    assert envs.current() == "default"  # this interpreter is not envs/torch-next/.venv's


def test_a_result_file_of_another_variant_is_not_resumed(tmp_path):
    from frontend_mess.matrix.runner import run_matrix

    output = tmp_path / "m.jsonl"
    record = {"suite": "s", "source": "a", "path": "fx-torch", "target": "llvm-cpu"}
    output.write_text(json.dumps({**record, "status": "pass", "env": "torch-next"}) + "\n")
    with pytest.raises(FrontendError, match="holds records made in environment torch-next"):
        run_matrix([dict(record)], output)
