"""Bad, broken and hostile input across every subcommand (issue 11; cases in hostile_corpus.py).

Every case is held to the same promise: its exit code, one `frontend-mess: error:` line and
no other output but frontend-mess's own notes, no traceback, no file created or changed (no
temporary file left either), and no payload run.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_corpus import PAYLOAD, Case, build_fixtures, cases, matmul_mlir

from frontend_mess.backend.targets import host_cpu_flags

ROOT = Path(__file__).resolve().parents[2]
CASES = cases()


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("hostile-fixtures")
    build_fixtures(directory)
    return directory


def _snapshot(directory: Path) -> dict[str, str]:
    """Every entry under `directory`: a hash of its bytes for regular files, its kind else."""
    found = {}
    for path in sorted(directory.rglob("*")):
        mode = path.lstat().st_mode
        key = str(path.relative_to(directory))
        if stat.S_ISREG(mode):
            try:
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            except PermissionError:
                found[key] = "unreadable"
        else:
            found[key] = stat.filemode(mode)
    return found


def _child_limits(case: Case, directory: Path):
    limit = case.env.get("RLIMIT_FSIZE")

    def apply() -> None:
        if limit:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
        if case.close_fd is not None:
            os.close(case.close_fd)
        if case.delete_cwd:
            gone = directory / "gone"
            gone.mkdir()
            os.chdir(gone)
            gone.rmdir()

    return apply


def run_case(case: Case, directory: Path, capfd, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.chdir(directory)
    if case.subprocess:
        env = {**os.environ, "CI": "1", "PYTHONPATH": str(ROOT)}
        env.pop("FRONTEND_MESS_VERBOSE", None)
        env.update(case.env)
        done = subprocess.run(
            # -P: no current directory on sys.path, as for the `frontend-mess` console script
            [sys.executable, "-P", "-m", "frontend_mess", *case.argv],
            cwd=directory,
            input=case.stdin or "",
            capture_output=True,
            text=True,
            env=env,
            preexec_fn=_child_limits(case, directory),
            timeout=600,
        )
        return done.returncode, done.stdout, done.stderr
    from frontend_mess.cli import main

    monkeypatch.setenv("CI", "1")
    monkeypatch.delenv("FRONTEND_MESS_VERBOSE", raising=False)
    capfd.readouterr()
    try:
        code = main(case.argv)
    except BaseException as exc:  # noqa: BLE001  (the promise is that main never raises)
        code = f"raised {type(exc).__name__}: {exc}"
    out, err = capfd.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=[pytest.mark.slow] * c.slow) for c in CASES]
)
def test_bad_input_is_one_clear_line(case: Case, fixtures, tmp_path, capfd, monkeypatch):
    if case.not_as_root and os.geteuid() == 0:
        pytest.skip("root writes into a read-only directory: the case cannot fail as root")
    directory = tmp_path / "case"
    directory.mkdir()
    case.setup(directory, fixtures)
    before = _snapshot(directory)
    try:
        code, out, err = run_case(case, directory, capfd, monkeypatch)
    finally:
        for path in directory.rglob("*"):  # read-only dirs: let pytest clean up
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
    lines = [line for line in err.splitlines() if line.strip() and line not in case.stderr_may_have]
    if case.close_fd == 2:  # nothing can be said: the exit code, stdout and the files can
        lines = ["frontend-mess: error: (stderr closed)"] if case.exit else []
        assert "Traceback" not in out and "error" not in out, f"the error went to stdout: {out}"
    report = f"exit {code}\nstderr:\n{err[-3000:]}\nstdout:\n{out[-500:]}"
    assert not (directory / PAYLOAD).exists(), f"a payload ran\n{report}"
    assert code == case.exit, report
    assert "Traceback" not in err and "please report" not in err.lower(), report
    assert all(line.startswith("frontend-mess: ") for line in lines), f"upstream noise\n{report}"
    errors = [line for line in lines if line.startswith("frontend-mess: error:")]
    if case.exit == 0:
        assert not errors, report
    else:
        assert len(errors) == 1, report
        for text in case.says:
            assert text.lower() in errors[0].lower(), f"error does not name {text!r}\n{report}"
    if case.stdout_has is not None and case.close_fd != 1:
        assert case.stdout_has in out, report
        assert "HELLO" not in out, f"the model file's print went into stdout\n{report}"
    elif case.exit != 0:
        assert out == "", report
    after = _snapshot(directory)
    changed = {k for k in before if before[k] != after.get(k)}
    new = set(after) - set(before) - set(case.creates)
    assert not changed, f"changed or removed: {sorted(changed)}\n{report}"
    assert not new, f"left behind: {sorted(new)}\n{report}"


def test_the_corpus_covers_every_subcommand():
    from frontend_mess.cli import COMMANDS

    used = {c.argv[0] for c in CASES if c.argv}
    assert set(COMMANDS) - {"models", "versions"} <= used
    assert len(CASES) >= 150


def test_a_big_endian_or_fortran_npy_runs_as_its_values(fixtures, tmp_path):
    """IREE reads raw bytes: a `.npy` in another byte order or layout is made native first,
    so it gives the same outputs as the same values in a native file."""
    import numpy as np

    from frontend_mess.backend.artifact import Artifact
    from frontend_mess.backend.runtime import read_npy

    values = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.save(tmp_path / "native.npy", values)
    np.save(tmp_path / "big.npy", values.astype(">f4"))
    np.save(tmp_path / "fortran.npy", np.asfortranarray(values))
    module = Artifact.load(fixtures / "tiny.vmfb").module()
    expected = module.call(None, [read_npy(str(tmp_path / "native.npy"))])[0]
    for name in ("big.npy", "fortran.npy"):
        got = module.call(None, [read_npy(str(tmp_path / name))])[0]
        np.testing.assert_array_equal(got, expected)


def test_an_iree_compile_crash_is_named_not_bannered():
    from frontend_mess.backend.compiler import _crash

    banner = (
        'iree-compile: Foo.cpp:12: void f(): Assertion `x && "no layout"\' failed.\n'
        "Please report issues to https://github.com/iree-org/iree/issues and include the "
        "crash backtrace.\nStack dump:\n0. Program arguments: iree-compile -"
    )
    assert _crash(banner).startswith("iree-compile: Foo.cpp:12: void f(): Assertion")
    assert _crash("error: failed to legalize operation 'tosa.cast'") == ""


def test_a_scalar_npy_stays_a_scalar(tmp_path):
    import numpy as np

    from frontend_mess.backend.runtime import read_npy

    np.save(tmp_path / "t.npy", np.float32(3))
    assert read_npy(str(tmp_path / "t.npy")).shape == ()


def test_the_nesting_scan_skips_strings_comments_and_resources():
    from frontend_mess.pipeline import _nesting

    assert _nesting('"a\\"b" {{}}') == 2  # an escaped quote does not end the string
    assert _nesting('// a "quote\n{{{}}}') == 3  # nor does a quote in a comment start one
    assert _nesting('"{{{{" {}') == 1
    assert _nesting("{{}}\n{-#\n dialect_resources: {{{{{{ }}}}}} \n#-}") == 2


def test_walk_goes_deeper_than_pythons_recursion_limit():
    import sys

    from frontend_mess.support.mlir_types import walk

    class Op:  # the shape of an MLIR operation: regions -> blocks -> operations
        def __init__(self, child=None):
            self.operation, self.name = self, "x"
            block = type("Block", (), {"operations": [child] if child else []})
            self.regions = [type("Region", (), {"blocks": [block]})]

    op = None
    for _ in range(sys.getrecursionlimit() + 500):
        op = Op(op)
    assert sum(1 for _ in walk(op)) == sys.getrecursionlimit() + 500


F16_MATMUL = matmul_mlir(64, 64, 64, "f16")


# /proc/cpuinfo spells it avx512_fp16 (a Sapphire Rapids host here ran the module fine)
@pytest.mark.skipif(
    bool({"avx512_fp16", "avx512fp16"} & host_cpu_flags()),
    reason="this host runs Sapphire Rapids code",
)
def test_a_module_for_another_cpu_is_an_error_line_not_a_sigill(tmp_path):
    """Code compiled for a CPU with AVX512-FP16 dies of SIGILL on this one; `run` calls it in
    a child process (backend/runtime.py), so the user gets one line and exit 3."""
    from frontend_mess.cli import main

    (tmp_path / "mm.mlir").write_text(F16_MATMUL)
    out = tmp_path / "spr.vmfb"
    assert (
        main(
            ["compile", str(tmp_path / "mm.mlir"), "--cpu", "sapphirerapids", "-o", str(out), "-q"]
        )
        == 0
    )
    done = subprocess.run(
        [
            sys.executable,
            "-P",
            "-m",
            "frontend_mess",
            "run",
            str(out),
            "--input",
            "64x64xf16",
            "--input",
            "64x64xf16",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines() == [
        "frontend-mess: error: [run] IREE's runtime crashed running main on local-task (SIGILL: "
        "an instruction this CPU lacks: was it compiled for another CPU (--cpu)?)"
    ]
