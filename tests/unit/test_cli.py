"""The command line in-process: exit codes, one-line errors, atomic output."""

import pytest

from frontend_mess.cli import main
from frontend_mess.errors import EXIT_USAGE


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_to_stdout(capsys, inputs_dir):
    code, out, _ = run(capsys, "import", str(inputs_dir / "mlp.py"), "--to", "linalg", "-q")
    assert code == 0
    assert "linalg.matmul" in out


def test_stats_flag(capsys, inputs_dir):
    code, out, _ = run(capsys, "import", str(inputs_dir / "mlp.py"), "--stats", "-q")
    assert code == 0
    assert any(line.split() == ["2", "linalg.matmul"] for line in out.splitlines())


def test_progress_goes_to_stderr_unless_quiet(capsys, inputs_dir, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    _, out, err = run(capsys, "import", str(inputs_dir / "mlp.py"), "--to", "raw")
    assert "torch.export" in err and "done in" in err
    assert "frontend-mess:" not in out
    _, _, err = run(capsys, "import", str(inputs_dir / "mlp.py"), "--to", "raw", "--quiet")
    assert err == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import", "resnet81"], "unknown model 'resnet81': did you mean resnet18"),
        (["import", "resnet18", "--to", "xla"], "unknown output kind 'xla'"),
        (["import", "resnet18", "--input-shape", "axb"], "malformed input shape 'axb'"),
        (["import", "nothing/here.py"], "model file nothing/here.py does not exist"),
        (["import", "resnet18", "--dynamic-dim", "a:b"], "malformed dynamic dimension 'a:b'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_errors_are_one_line_with_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv, "-q") if argv[0] == "import" else run(capsys, *argv)
    assert code == EXIT_USAGE
    assert out == ""
    assert err.count("\n") == 1 and message in err
    assert err.startswith("frontend-mess: error: ")


def test_failed_import_leaves_no_output_file(capsys, inputs_dir, tmp_path):
    target = tmp_path / "out.mlir"
    code, _, err = run(
        capsys,
        "import",
        f"{inputs_dir / 'zoo.py'}:DataDependent",
        "--input-shape",
        "4",
        "-o",
        str(target),
        "-q",
    )
    assert code == EXIT_USAGE and "could not trace" in err
    assert list(tmp_path.iterdir()) == []


def test_output_into_missing_directory(capsys, inputs_dir, tmp_path):
    code, _, err = run(
        capsys,
        "import",
        str(inputs_dir / "mlp.py"),
        "-q",
        "-o",
        str(tmp_path / "no" / "such" / "dir.mlir"),
    )
    assert code == EXIT_USAGE and "does not exist" in err


def test_unexpected_failures_are_one_line_too(capsys, monkeypatch):
    from frontend_mess import cli

    def broken(_args):
        raise RuntimeError("something upstream broke\nwith a long second line")

    monkeypatch.setitem(cli.COMMANDS, "models", broken)
    monkeypatch.delenv("FRONTEND_MESS_VERBOSE", raising=False)
    code, out, err = run(capsys, "models")
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert "unexpected RuntimeError: something upstream broke" in err
    monkeypatch.setenv("FRONTEND_MESS_VERBOSE", "1")
    with pytest.raises(RuntimeError):
        main(["models"])
