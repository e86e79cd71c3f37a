"""A slice of the committed matrix (reports/matrix-*.jsonl), rerun here: each cell must end the
way the committed run says. Cells that failed there are strict xfails, so an upstream fix
(an XPASS) fails the suite just as a regression does; either way, rerun the suite's matrix
and commit the new reports (README "Compatibility matrix").

The slice is every k-th cell of each suite, in a fixed order, skipping cells that took longer
than MAX_SECONDS in the committed run and cells that timed out or crashed there, so that it
stays a few minutes on two cores.
"""

from collections import defaultdict
from pathlib import Path

import pytest

from frontend_mess.backend.targets import host_isa
from frontend_mess.matrix.report import cell_key
from frontend_mess.matrix.runner import read_results, run_matrix

ROOT = Path(__file__).resolve().parents[2]
REPORTS = sorted((ROOT / "reports").glob("matrix-*.jsonl"))
PER_SUITE = {"onnx-node": 40, "onnx-models": 6, "hf-tiny": 4, "torchvision": 3}
MAX_SECONDS = 30
CELL_FIELDS = ("suite", "source", "path", "target", "compile_only")


def committed_slice() -> list[dict]:
    by_suite: dict[str, list[dict]] = defaultdict(list)
    records = sorted((r for p in REPORTS for r in read_results(p)), key=cell_key)
    for r in records:
        if r["status"] not in ("timeout", "crash") and sum(r["seconds"].values()) <= MAX_SECONDS:
            by_suite[r["suite"]].append(r)
    chosen = []
    for suite, count in PER_SUITE.items():
        candidates = by_suite[suite]
        step = max(1, len(candidates) // count)
        chosen += candidates[::step][:count]
    return chosen


SLICE = committed_slice()
pytestmark = [pytest.mark.slow, pytest.mark.matrix]


class StillFailing(Exception):
    """A committed failure that fails again with the same status and error class: the only
    outcome its xfail accepts. A pass is an XPASS (an upstream fix: strict, so it fails the
    suite); a different status or error class is an ordinary failure (the mess moved)."""


def _param(record: dict):
    marks = []
    committed_on = record.get("host_isa")
    if committed_on and committed_on != host_isa():
        # `--iree-llvmcpu-target-cpu=host`: codegen depends on the CPU (notes/matrix.md)
        reason = f"committed on an {committed_on} host; this one is {host_isa()}"
        marks.append(pytest.mark.skip(reason=reason))
    elif record["status"] != "pass":
        reason = f"{record['status']} ({record['error_class']}) in the committed run"
        marks.append(pytest.mark.xfail(strict=True, raises=StillFailing, reason=reason))
    return pytest.param(record, id="/".join(cell_key(record)), marks=marks)


@pytest.fixture(scope="module")
def rerun(tmp_path_factory) -> dict:
    cells = [{k: r[k] for k in CELL_FIELDS} for r in SLICE]
    output = tmp_path_factory.mktemp("matrix") / "slice.jsonl"
    return {cell_key(r): r for r in run_matrix(cells, output, jobs=2, timeout_s=600)}


def test_the_slice_covers_every_suite():
    assert {r["suite"] for r in SLICE} == set(PER_SUITE)


@pytest.mark.parametrize("committed", [_param(r) for r in SLICE])
def test_cell_ends_as_committed(committed, rerun):
    got = rerun[cell_key(committed)]
    if committed["status"] != "pass" and got["status"] != "pass":
        assert (got["status"], got["error_class"]) == (
            committed["status"],
            committed["error_class"],
        ), f"now {got['status']} at {got['stage']}: {got['error']}"
        raise StillFailing(got["error_class"])
    assert got["status"] == "pass", f"{got['status']} at {got['stage']}: {got['error']}"
