"""transformers' loading chatter stays off stderr: `from_pretrained`'s "Loading weights" bar,
config warnings and the load report that lists newly initialized weights. The checks that look
at stderr run in a subprocess: transformers' log handler keeps whatever `sys.stderr` was when it
was created, which under pytest can be an earlier test's capture, so capfd would miss it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import transformers
from transformers.utils import logging as hf_logging

from frontend_mess.importers import hf
from frontend_mess.support.capture import VERBOSE_ENV
from frontend_mess.support.errors import FrontendError

pytestmark = pytest.mark.slow

TINY = Path(__file__).resolve().parents[2] / "frontend_mess" / "matrix" / "data" / "hf-tiny"

# RoPE keys on a model without RoPE: transformers 5.23 logs "BertConfig got `key=rope_scaling`
# in kwargs but hasn't set it as attribute" for every config built from them.
ROPE_KEYS = {"rope_scaling": {"rope_type": "linear", "factor": 2.0}, "rope_theta": 10000.0}
CONFIG_WARNING = "rope_scaling"
PROGRESS_BAR = "Loading weights"
LOAD_REPORT = "LOAD REPORT"  # a classifier head loaded from a base checkpoint is MISSING


def noisy_checkpoint(tmp_path: Path) -> Path:
    """A base BERT saved with RoPE keys added to its config.json. Loaded for
    sequence-classification it makes transformers print all three kinds of chatter."""
    config = transformers.AutoConfig.from_pretrained(TINY / "bert.json")
    directory = tmp_path / "bert"
    transformers.AutoModel.from_config(config).save_pretrained(directory)
    config_file = directory / "config.json"
    config_file.write_text(json.dumps(json.loads(config_file.read_text()) | ROPE_KEYS))
    return directory


def python(*args: str, verbose: bool = False) -> subprocess.CompletedProcess:
    """Run this environment's Python, so that the test and the CLI see the same packages."""
    env = {k: v for k, v in os.environ.items() if k != VERBOSE_ENV}
    if verbose:
        env[VERBOSE_ENV] = "1"
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=300
    )


def import_noisy(tmp_path: Path, *, verbose: bool) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "x.mlir"
    source = f"hf:{noisy_checkpoint(tmp_path)}"
    done = python(
        "-m", "frontend_mess", "import", source, "--task", "sequence-classification",
        "--to", "raw", "-q", "-o", str(out),
        verbose=verbose,
    )  # fmt: skip
    return done, out


def test_quiet_import_leaves_stderr_empty(tmp_path):
    done, out = import_noisy(tmp_path, verbose=False)
    assert done.returncode == 0, done.stderr
    assert "func.func" in out.read_text()
    assert PROGRESS_BAR not in done.stderr
    assert CONFIG_WARNING not in done.stderr
    assert LOAD_REPORT not in done.stderr
    assert done.stderr == ""


def test_verbose_import_lets_transformers_output_through(tmp_path):
    """The checkpoint above does make transformers talk: the quiet test is not vacuous, and
    FRONTEND_MESS_VERBOSE=1 shows it all, as it does torch's output."""
    done, out = import_noisy(tmp_path, verbose=True)
    assert done.returncode == 0, done.stderr
    assert out.exists()
    assert PROGRESS_BAR in done.stderr
    assert CONFIG_WARNING in done.stderr
    assert LOAD_REPORT in done.stderr


LOAD_THEN_BUILD = """
import json, sys
import transformers
from frontend_mess.importers import hf

hf.load("hf-config:" + sys.argv[1])
print("--- hf.load returned ---", file=sys.stderr, flush=True)
data = json.loads(open(sys.argv[1]).read())
transformers.AutoConfig.for_model(data.pop("model_type"), **data)
"""


def test_load_keeps_config_warning_off_stderr_and_restores_logging(tmp_path):
    """hf.load prints nothing; the same config built by transformers right after still warns,
    so the warning is real and hf.load gave transformers its verbosity back."""
    config = tmp_path / "bert-rope.json"
    config.write_text(json.dumps(json.loads((TINY / "bert.json").read_text()) | ROPE_KEYS))
    done = python("-c", LOAD_THEN_BUILD, str(config))
    assert done.returncode == 0, done.stderr
    during, marker, after = done.stderr.partition("--- hf.load returned ---\n")
    assert marker, done.stderr
    assert during == ""
    assert CONFIG_WARNING in after


def test_load_restores_transformers_settings():
    before = (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled())
    hf.load(f"hf-config:{TINY / 'bert.json'}")
    assert (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()) == before
    with pytest.raises(FrontendError):
        hf.load(f"hf-config:{TINY / 'bert.json'}", task="no-such-task")
    assert (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()) == before


def test_errors_raised_while_quiet_keep_their_message(tmp_path, monkeypatch):
    """The silenced output is transformers' own; what hf.load raises still reaches the user."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # an id transformers itself looks up, and fails
    with pytest.raises(FrontendError, match="cannot load a transformers config from id"):
        hf.load("hf:no-such-org/no-such-model")
    config_only = tmp_path / "config-only"
    transformers.AutoConfig.from_pretrained(TINY / "bert.json").save_pretrained(config_only)
    with pytest.raises(FrontendError, match=f"cannot load weights for '{config_only}'"):
        hf.load(f"hf:{config_only}")
