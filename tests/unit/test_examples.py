"""Every script in examples/ runs as a user runs it: its own process, from another directory,
exit code 0, and the output it exists to show. A new example is picked up by the glob and
fails `test_every_example_has_expected_output` until it gets an entry in EXPECTED."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(path.name for path in EXAMPLES.glob("*.py"))
#: seconds one example may take (each takes well under a minute on 2 cores)
TIMEOUT = 300

#: script -> text its stdout must contain (besides exit code 0, which is its own check)
EXPECTED: dict[str, tuple[str, ...]] = {
    "analyze.py": ("total MACs:     1.814 G", "MACs counted as by hand and as published"),
    "compile_run_verify.py": ("main at 3x3x16x16 output 0 (3x5)", "OK: IREE matches PyTorch"),
    "hf_decoder.py": ("tensor<1x?xi64>", "main at 1x9, 1x9 output 0", "OK: the decoder"),
    "hf_encoder.py": ("max abs error vs transformers", "OK: the encoder matches PyTorch"),
    "module_file.py": ("tensor<?x16xf32>", "OK: every import matches PyTorch"),
    "nnmodule.py": ("== linalg:", "linalg.conv_2d_nchw_fchw", "== stablehlo:"),
    "onnx_file.py": ("via onnx-iree against onnxruntime", "OK: both importers match"),
    "torchvision_by_name.py": ("linalg.conv_2d_nchw_fchw", "OK: fully lowered to linalg"),
}


def test_every_example_has_expected_output() -> None:
    assert SCRIPTS, f"no examples found in {EXAMPLES}"
    assert not set(SCRIPTS) - set(EXPECTED), "add these examples to EXPECTED"
    assert not set(EXPECTED) - set(SCRIPTS), "these EXPECTED entries name no example"


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=tmp_path,
        env={**os.environ, "CI": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    assert result.returncode == 0, output
    for text in EXPECTED.get(script, ()):
        assert text in result.stdout, f"{text!r} missing from the output of {script}\n{output}"
    assert not list(tmp_path.iterdir()), f"{script} wrote into its working directory"
