"""The content-addressed store: objects, cache hits, manifests, corruption, concurrency,
`store log/show/diff/verify/gc/ls/export`, and the matrix's cached cells."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from frontend_mess.cli import main
from frontend_mess.store.objects import Store, sha256_bytes
from frontend_mess.support.errors import EXIT_MISMATCH

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_object_is_named_by_its_hash_and_read_back_checked(tmp_path):
    store = Store(tmp_path / "s")
    digest = store.put(b"hello")
    assert digest == sha256_bytes(b"hello")
    assert store.read(digest) == b"hello"
    assert not os.access(store.object_path(digest), os.W_OK) or os.geteuid() == 0


def test_a_corrupt_object_is_never_served(tmp_path):
    store = Store(tmp_path / "s")
    digest = store.put(b"the right bytes")
    path = store.object_path(digest)
    path.chmod(0o644)
    path.write_bytes(b"the wrong bytes")
    assert store.read(digest) is None
    assert not path.exists()  # removed: the stage is recomputed


def test_an_action_names_its_objects(tmp_path):
    store = Store(tmp_path / "s")
    action = store.record("import", "k" * 64, {"a.mlir": b"module {}"}, {"x": 1})
    found = store.lookup("import", "k" * 64)
    assert found is not None and found.outputs == action.outputs and found.meta == {"x": 1}
    assert store.lookup("import", "j" * 64) is None


def _import(capsys, store, out, *extra):
    return run(
        capsys,
        "import",
        str(ROOT / "tests/filecheck/Inputs/mlp.py"),
        "--to",
        "torch",
        "--store",
        str(store),
        "-o",
        str(out),
        *extra,
    )


def test_a_second_identical_import_is_served_from_the_store(capsys, tmp_path):
    store = tmp_path / "store"
    code, _, err = _import(capsys, store, tmp_path / "a.mlir")
    assert code == 0 and "cached" not in err
    code, _, err = _import(capsys, store, tmp_path / "b.mlir")
    assert code == 0 and "import torch: cached" in err
    assert (tmp_path / "a.mlir").read_bytes() == (tmp_path / "b.mlir").read_bytes()
    code, _, err = _import(capsys, store, tmp_path / "c.mlir", "--fresh")
    assert code == 0 and "cached" not in err
    code, out, _ = run(capsys, "store", "--store", str(store), "log")
    assert code == 0 and len(out.splitlines()) == 3 and "1/1 cached" in out


def test_another_seed_is_another_key_and_other_weights(capsys, tmp_path):
    store = tmp_path / "store"
    _import(capsys, store, tmp_path / "a.mlir")
    code, _, err = _import(capsys, store, tmp_path / "b.mlir", "--seed", "7")
    assert code == 0 and "cached" not in err
    assert (tmp_path / "a.mlir").read_bytes() != (tmp_path / "b.mlir").read_bytes()


def test_a_flipped_byte_in_a_stored_object_is_detected_and_recomputed(capsys, tmp_path):
    store = tmp_path / "store"
    _import(capsys, store, tmp_path / "a.mlir")
    want = (tmp_path / "a.mlir").read_bytes()
    obj = Store(store).object_path(sha256_bytes(want))
    obj.chmod(0o644)
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x01
    obj.write_bytes(bytes(data))
    code, _, err = _import(capsys, store, tmp_path / "b.mlir")
    assert code == 0
    assert "corrupt" in err and "cached" not in err
    assert (tmp_path / "b.mlir").read_bytes() == want
    code, out, _ = run(capsys, "store", "--store", str(store), "verify")
    assert code == 0 and "all whole" in out


def test_store_verify_reports_corruption_with_exit_1(capsys, tmp_path):
    store = Store(tmp_path / "s")
    digest = store.put(b"payload")
    store.object_path(digest).chmod(0o644)
    store.object_path(digest).write_bytes(b"pay1oad")
    code, out, _ = run(capsys, "store", "--store", str(store.root), "verify")
    assert code == EXIT_MISMATCH and "1 corrupt" in out


@pytest.mark.slow
def test_two_concurrent_identical_imports_leave_one_good_object(tmp_path):
    store = tmp_path / "store"
    env = {**os.environ, "CI": "1", "FRONTEND_MESS_STORE": str(store)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "frontend_mess",
                "import",
                "resnet18",
                "--to",
                "linalg",
                "-o",
                str(tmp_path / f"{i}.mlir"),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    a, b = (tmp_path / "0.mlir").read_bytes(), (tmp_path / "1.mlir").read_bytes()
    assert a == b
    objects = [p for p in (store / "objects").glob("??/*") if p.stat().st_size == len(a)]
    assert [p.name for p in objects] == [sha256_bytes(a)]
    assert not [p for p in store.rglob("*.tmp")]


@pytest.mark.slow
def test_store_diff_shows_the_flag_and_the_ir_that_changed(capsys, tmp_path):
    store = tmp_path / "store"
    model = str(ROOT / "tests/filecheck/Inputs/mlp.py")
    for cpu, out in (("host", "a.vmfb"), ("generic", "b.vmfb")):
        code, _, _ = run(
            capsys,
            "compile",
            model,
            "--cpu",
            cpu,
            "--store",
            str(store),
            "-o",
            str(tmp_path / out),
            "-q",
        )
        assert code == 0
    code, out, _ = run(capsys, "store", "--store", str(store), "diff", "last~1", "last")
    assert code == 0
    assert "- --iree-llvmcpu-target-cpu=host" in out
    assert "+ --iree-llvmcpu-target-cpu=generic" in out
    assert "output executables.mlir:" in out
    assert any(line.startswith("+") and 'cpu = "generic"' in line for line in out.splitlines())
    # the vmfb changed, and is not shown as text
    assert "output llvm-cpu.vmfb:" in out and "(binary)" in out


def test_show_ls_export_and_gc(capsys, tmp_path, monkeypatch):
    store = tmp_path / "store"
    _import(capsys, store, tmp_path / "a.mlir")
    _import(capsys, store, tmp_path / "b.mlir", "--seed", "3")
    code, out, _ = run(capsys, "store", "--store", str(store), "show", "last")
    manifest = json.loads(out)
    assert code == 0 and manifest["command"] == "import"
    assert manifest["inputs"]["options"]["seed"] == 3
    assert {"torch", "iree-base-compiler"} <= set(manifest["versions"])
    assert manifest["host"]["isa"] and manifest["stages"][0]["outputs"]["torch.mlir"]
    code, out, _ = run(capsys, "store", "--store", str(store), "ls", "mlp")
    assert code == 0 and "1-torch.mlir" in out
    view = store / "models" / "mlp" / manifest["id"] / "1-torch.mlir"
    assert view.read_bytes() == (tmp_path / "b.mlir").read_bytes()  # a link into the objects
    code, out, _ = run(
        capsys, "store", "--store", str(store), "export", "mlp~1", str(tmp_path / "x")
    )
    assert code == 0
    assert (tmp_path / "x" / "1-torch.mlir").read_bytes() == (tmp_path / "a.mlir").read_bytes()
    assert json.loads((tmp_path / "x" / "manifest.json").read_text())["id"] != manifest["id"]
    code, out, _ = run(capsys, "store", "--store", str(store), "gc", "--keep-last", "1")
    assert code == 0 and "freed 0 bytes" in out  # all of it younger than the grace period
    from frontend_mess.store import commands

    monkeypatch.setattr(commands, "GC_GRACE_S", 0)
    dropped = Store(store).object_path(sha256_bytes((tmp_path / "a.mlir").read_bytes()))
    assert dropped.exists()
    code, out, _ = run(capsys, "store", "--store", str(store), "gc", "--keep-last", "1")
    assert code == 0 and "1 runs" in out and "freed" in out and "freed 0 bytes" not in out
    assert not dropped.exists()
    code, out, _ = run(capsys, "store", "--store", str(store), "log")
    assert len(out.splitlines()) == 1
    assert view.read_bytes() == (tmp_path / "b.mlir").read_bytes()  # the kept run is whole


def test_a_bad_reference_is_one_clear_error(capsys, tmp_path):
    Store(tmp_path / "s")
    code, out, err = run(capsys, "store", "--store", str(tmp_path / "s"), "show", "nothing")
    assert code == 2 and "no run 'nothing'" in err and out == ""


@pytest.mark.slow
def test_a_matrix_rerun_serves_every_cell_from_the_store(capsys, tmp_path):
    store = tmp_path / "store"
    argv = [
        "matrix",
        "--suite",
        "onnx-node",
        "--path",
        "onnx",
        "--limit",
        "4",
        "--store",
        str(store),
        "-q",
    ]
    assert run(capsys, *argv, "-o", str(tmp_path / "a.jsonl"))[0] == 0
    assert run(capsys, *argv, "-o", str(tmp_path / "b.jsonl"))[0] == 0
    first = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    again = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert len(first) == len(again) == 4
    assert all(r.get("cached") for r in again) and not any(r.get("cached") for r in first)

    def key(r):
        return (r["source"], r["status"], r["error_class"])

    assert sorted(map(key, first)) == sorted(map(key, again))


@pytest.mark.slow
def test_dumping_executable_sources_writes_their_paths_into_the_vmfb(tmp_path):
    """Why `store diff` makes the pre-codegen IR with `--compile-to=executable-sources`
    instead of dumping it during the compile: `--iree-hal-dump-executable-sources-to=DIR`
    puts DIR into the `.vmfb`, so the same compile would give other bytes each time."""
    from frontend_mess import pipeline
    from frontend_mess.backend.targets import target_spec

    loaded = pipeline.load(str(ROOT / "tests/filecheck/Inputs/mlp.py"))
    iree_input = pipeline.for_iree(loaded, "fx-torch")
    plain = target_spec("llvm-cpu", cpu="generic")

    def vmfb(*flags):
        spec = target_spec("llvm-cpu", cpu="generic", extra_flags=flags)
        return pipeline.compile_input(iree_input, spec).data

    assert vmfb() == pipeline.compile_input(iree_input, plain).data
    dumped = [vmfb(f"--iree-hal-dump-executable-sources-to={tmp_path / d}") for d in "ab"]
    assert dumped[0] != dumped[1]
    assert str(tmp_path / "a").encode() in dumped[0]


@pytest.mark.slow
def test_every_stage_key_holds_the_code_that_makes_it(capsys, tmp_path):
    """A change to frontend-mess's own code for a stage must change that stage's key: the
    IREE input is made by the import code, the `.vmfb` by the compile code, the verdict by
    both and the verify code (store/keys.py STAGE_CODE)."""
    store = tmp_path / "store"
    model = str(ROOT / "tests/filecheck/Inputs/mlp.py")
    assert run(capsys, "verify", model, "--store", str(store), "-q")[0] == 0
    code, out, _ = run(capsys, "store", "--store", str(store), "show", "last")
    stages = {s["stage"]: set(s["code"]) for s in json.loads(out)["stages"]}
    assert stages == {
        "iree-input": {"import"},
        "compile": {"compile"},
        "verify": {"verify", "import"},
    }


def test_a_hostile_manifest_or_action_names_no_path_outside_the_store(capsys, tmp_path):
    store = Store(tmp_path / "s")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (store.root / "runs" / "R.json").write_text(json.dumps({
        "id": "R", "name": "m", "command": "import", "argv": [], "seconds": 0, "status": "ok",
        "stages": [{"stage": "import", "outputs": {"../../x": "../../victim.txt",
                                                   "a.mlir": "../victim.txt"}}],
    }))  # fmt: skip
    (store.root / "runs" / "other.json").write_text(json.dumps({"id": "../..", "stages": []}))
    (store.root / "actions" / "import").mkdir()
    (store.root / "actions" / "import" / ("k" * 64 + ".json")).write_text(
        json.dumps({"outputs": {"a": "../../victim.txt"}})
    )
    assert store.lookup("import", "k" * 64) is None
    code, _, err = run(
        capsys, "store", "--store", str(store.root), "export", "R", str(tmp_path / "x")
    )
    assert code == 2 and "not an object name" in err
    code, out, _ = run(capsys, "store", "--store", str(store.root), "log")
    assert code == 0 and len(out.splitlines()) == 1  # the run whose id is a path is skipped
    assert victim.read_text() == "keep me"


def test_verify_and_gc_leave_a_writers_temporary_file_alone(capsys, tmp_path):
    store = Store(tmp_path / "s")
    digest = store.put(b"x" * 100)
    temporary = store.object_path(digest).parent / f".{digest}.123.abcdefgh.tmp"
    temporary.write_bytes(b"half")
    code, out, _ = run(capsys, "store", "--store", str(store.root), "verify")
    assert code == 0 and out.startswith("1 objects")
    assert temporary.exists()


@pytest.mark.slow
def test_packed_weights_are_keyed_by_the_weights_not_only_the_ir(capsys, inputs_dir, tmp_path):
    """With external weights the IR only names them, so two seeds give one IR; the compile
    stage packs the weights (backend/encoder.py), so its key must hold the archive: verify
    of seed 1 after seed 0 checks seed 1's packed weights, and passes."""
    store = str(tmp_path / "store")
    source = str(inputs_dir / "mlp.py")
    archives = []
    for seed in ("0", "1"):
        argv = ["--params", "external", "--store", store, "--seed", seed, "-q"]
        assert main(["verify", source, *argv]) == 0, capsys.readouterr().err
        out = tmp_path / f"s{seed}.vmfb"
        assert main(["compile", source, *argv, "-o", str(out)]) == 0
        archives.append(out.with_suffix(".irpa").read_bytes())
    capsys.readouterr()
    assert archives[0] != archives[1]
