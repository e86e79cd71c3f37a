"""The command line in-process: exit codes, one-line errors, atomic output."""

import pytest

from frontend_mess.cli import main
from frontend_mess.support.errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_MISMATCH, EXIT_USAGE


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
    # a stage failed on well-formed input: exit 3, and the line names the stage
    assert code == EXIT_FAILED and "[export]" in err and "could not trace" in err
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
    assert code == EXIT_INTERNAL and out == ""
    assert err.count("\n") == 1
    assert "unexpected RuntimeError: something upstream broke" in err
    monkeypatch.setenv("FRONTEND_MESS_VERBOSE", "1")
    with pytest.raises(RuntimeError, match="something upstream broke"):
        main(["models"])


def test_exit_codes_tell_failures_apart():
    """Usage, pipeline failure, mismatch and internal error each have their own code."""
    codes = [EXIT_MISMATCH, EXIT_USAGE, EXIT_FAILED, EXIT_INTERNAL]
    assert len(set(codes)) == 4 and 0 not in codes


def test_help_imports_no_heavy_module():
    """`frontend-mess --help` and each subcommand's help must be instant: no torch, IREE,
    transformers or onnx import (they take seconds)."""

    code = (
        "import sys\n"
        "from frontend_mess.cli import main\n"
        "for argv in (['--help'], ['import', '--help'], ['matrix', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'iree.compiler', 'iree.runtime', 'transformers', 'onnx')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    _assert_prints_no_heavy(code)


def _assert_prints_no_heavy(code: str) -> None:
    """Run `code` in a fresh interpreter; it prints `HEAVY [...]`, the heavy modules loaded."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY []" in out, out.splitlines()[-1]


@pytest.mark.parametrize("argv", [["models"], ["versions"]])
def test_listing_commands_import_no_torch(argv):
    """`models` reads the static torchvision catalog and `versions` the package metadata:
    neither imports torch or torchvision (4 s here; issue 13's start-up target is 0.5 s)."""
    code = (
        "import sys\n"
        "from frontend_mess.cli import main\n"
        f"assert main({argv!r}) == 0\n"
        "heavy = ('torch', 'torchvision', 'iree.compiler')\n"
        "print('HEAVY', [m for m in heavy if m in sys.modules])\n"
    )
    _assert_prints_no_heavy(code)


@pytest.mark.parametrize("command", ["import", "compile", "run", "verify", "analyze", "matrix"])
def test_every_subcommand_help_shows_examples(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and f"frontend-mess {command} " in out


@pytest.mark.parametrize("command", ["compile", "verify"])
def test_compile_and_verify_take_every_source_option(capsys, command):
    """One option set for every command: --dynamic-dim, --onnx-importer, --via onnx-iree."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    for flag in ("--dynamic-dim", "--onnx-importer", "--onnx-exporter", "--export", "--via"):
        assert flag in out, flag
    assert "onnx-iree" in out


def test_a_matrix_with_no_cells_says_so(capsys):
    code, _, err = run(capsys, "matrix", "--suite", "hf-tiny", "--match", "no-such-model", "-q")
    assert code == EXIT_USAGE and "no cells to run" in err


@pytest.mark.slow
def test_quiet_onnx_export_prints_nothing(capfd, inputs_dir, tmp_path):
    """torch.onnx's dynamo exporter prints step banners through `sys.stdout`, which the CLI
    points at a stream of its own: under --quiet none of it reaches the terminal."""
    out_file = tmp_path / "mlp.vmfb"
    code = main(
        ["compile", str(inputs_dir / "mlp.py"), "--via", "onnx", "-q", "--no-store"]
        + ["-o", str(out_file)]
    )
    out, err = capfd.readouterr()
    assert code == 0 and out_file.stat().st_size > 0
    assert "[torch.onnx]" not in out + err, out + err
