"""`analyze`: the JSON schema, counts against published figures, --strip-weights, HTML."""

import json
from pathlib import Path

import pytest

from frontend_mess.analysis.analyze import SCHEMA_VERSION, analyze_module
from frontend_mess.analysis.report import html_page, json_text
from frontend_mess.analysis.strip import strip_weights
from frontend_mess.api import import_model
from frontend_mess.cli import main

pytestmark = pytest.mark.slow

INPUTS = Path(__file__).resolve().parents[1] / "filecheck" / "Inputs"
DOCUMENTED_KEYS = {
    "schema_version",
    "source",
    "named_ops",
    "generic_count",
    "unique_indexing_maps",
    "unique_map_lists",
    "unique_iterator_signatures",
    "unique_bodies",
    "iterator_signatures",
    "body_ops",
    "element_types",
    "totals",
    "ops",
}
OP_KEYS = {
    "index",
    "named",
    "iterators",
    "maps",
    "operand_types",
    "operand_elements",
    "body",
    "loop_sizes",
    "iterations",
    "macs",
    "flops",
    "bytes_read",
    "bytes_written",
    "intensity",
}


@pytest.fixture(scope="module")
def mlp_analysis():
    module = import_model(str(INPUTS / "mlp.py"), to="linalg").mlir_module
    return analyze_module(module, "mlp")


def test_json_keys_are_the_documented_ones(mlp_analysis):
    data = json.loads(json_text(mlp_analysis))
    assert set(data) == DOCUMENTED_KEYS
    assert data["schema_version"] == SCHEMA_VERSION
    assert all(set(op) == OP_KEYS for op in data["ops"])
    assert set(data["totals"]) == {
        "iterations",
        "macs",
        "flops",
        "bytes_read",
        "bytes_written",
        "intensity",
    }
    notes = (Path(__file__).resolve().parents[2] / "notes" / "analysis.md").read_text()
    assert all(f"`{key}`" in notes for key in DOCUMENTED_KEYS | OP_KEYS)


def test_json_is_stable(mlp_analysis):
    module = import_model(str(INPUTS / "mlp.py"), to="linalg").mlir_module
    again = analyze_module(module, "mlp")
    strip = [{k: v for k, v in op.items()} for op in json.loads(json_text(again))["ops"]]
    assert strip == json.loads(json_text(mlp_analysis))["ops"]


@pytest.mark.parametrize(
    ("model", "published_gmacs"),
    [("resnet18", 1.82), ("mobilenet_v2", 0.30), ("squeezenet1_1", 0.35)],
)
def test_macs_match_published_counts(model, published_gmacs):
    """fvcore / ptflops figures at 224x224; within 2%."""
    analysis = analyze_module(import_model(model, to="linalg").mlir_module, model)
    assert analysis.totals()["macs"] / 1e9 == pytest.approx(published_gmacs, rel=0.02)


def test_strip_weights_keeps_the_ir_valid_and_small(tmp_path):
    from iree.compiler.tools import compile_str
    from torch_mlir import ir

    module = import_model("resnet18", to="linalg").mlir_module
    assert strip_weights(module) > 60
    text = str(module)
    assert len(text) < 1_000_000
    reparsed = ir.Module.parse(text, module.context)
    analysis = analyze_module(reparsed, "stripped")
    assert analysis.totals()["macs"] == pytest.approx(1.814e9, rel=1e-3)
    from frontend_mess.backend.targets import target_spec
    from frontend_mess.pipeline import generic_form

    vmfb = compile_str(
        generic_form(ir.Module.parse(text, module.context)),
        extra_args=[*target_spec("llvm-cpu").flags, "--iree-input-type=none"],
    )
    assert len(vmfb) > 0


def test_import_strip_weights_flag(tmp_path, capsys):
    out = tmp_path / "r18.mlir"
    assert main(["import", "resnet18", "--strip-weights", "-q", "-o", str(out)]) == 0
    text = out.read_text()
    assert out.stat().st_size < 1_000_000 and "dense_resource" not in text
    assert "linalg.conv_2d_nchw_fchw" in text


def test_html_is_self_contained(mlp_analysis):
    page = html_page(mlp_analysis)
    assert "<svg" in page and 'class="sortable"' in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<link" not in page and " src=" not in page
