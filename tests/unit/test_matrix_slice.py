"""A slice of the committed matrix (reports/matrix-*.jsonl), rerun here: each cell must end the
way the committed run says. Cells that failed there are strict xfails, so an upstream fix
(an XPASS) fails the suite just as a regression does; either way, rerun the suite's matrix
and commit the new reports (README "Compatibility matrix").

The slice is every k-th cell of each suite, in a fixed order, skipping cells that took longer
than MAX_SECONDS in the committed run and cells that timed out or crashed there, so that it
stays a few minutes on two cores. The cuda reports (reports/cuda/, compiled and assembled, no
GPU) give a slice of their own: a cuda cell passes as `assembled`.
"""

from collections import defaultdict
from pathlib import Path

import pytest

from frontend_mess.backend.targets import host_isa
from frontend_mess.matrix.report import PASSING, cell_key
from frontend_mess.matrix.runner import read_results, run_matrix

ROOT = Path(__file__).resolve().parents[2]
REPORTS = sorted((ROOT / "reports").glob("matrix-*.jsonl"))
CUDA_REPORTS = sorted((ROOT / "reports" / "cuda").glob("matrix-*.jsonl"))
PER_SUITE = {"onnx-node": 40, "onnx-models": 6, "hf-tiny": 4, "hf-generate": 2, "torchvision": 3}
CUDA_PER_SUITE = {"onnx-node": 8, "onnx-models": 3, "hf-tiny": 2, "torchvision": 1}
MAX_SECONDS = 30
CELL_FIELDS = ("suite", "source", "path", "target", "compile_only", "cuda_arch")


def committed_slice(reports: list[Path], per_suite: dict[str, int]) -> list[dict]:
    by_suite: dict[str, list[dict]] = defaultdict(list)
    records = sorted((r for p in reports for r in read_results(p)), key=cell_key)
    for r in records:
        if r["status"] not in ("timeout", "crash") and sum(r["seconds"].values()) <= MAX_SECONDS:
            by_suite[r["suite"]].append(r)
    chosen = []
    for suite, count in per_suite.items():
        candidates = by_suite[suite]
        step = max(1, len(candidates) // count)
        chosen += candidates[::step][:count]
    return chosen


SLICE = committed_slice(REPORTS, PER_SUITE) + committed_slice(CUDA_REPORTS, CUDA_PER_SUITE)
pytestmark = [pytest.mark.slow, pytest.mark.matrix]


class StillFailing(Exception):
    """A committed failure that fails again with the same status and error class: the only
    outcome its xfail accepts. A pass is an XPASS (an upstream fix: strict, so it fails the
    suite); a different status or error class is an ordinary failure (the mess moved)."""


def _other_host(record: dict) -> bool:
    committed_on = record.get("host_isa")
    return bool(committed_on) and committed_on != host_isa()


def _param(record: dict):
    marks = []
    committed_on = record.get("host_isa")
    if _other_host(record):
        # `--iree-llvmcpu-target-cpu=host`: codegen depends on the CPU (notes/matrix.md)
        reason = f"committed on an {committed_on} host; this one is {host_isa()}"
        marks.append(pytest.mark.skip(reason=reason))
    elif record["status"] not in PASSING:
        reason = f"{record['status']} ({record['error_class']}) in the committed run"
        marks.append(pytest.mark.xfail(strict=True, raises=StillFailing, reason=reason))
    return pytest.param(record, id="/".join(cell_key(record)), marks=marks)


@pytest.fixture(scope="module")
def rerun(tmp_path_factory) -> dict:
    # a cell committed on another CPU is skipped (below): it is not rerun either
    cells = [{k: r[k] for k in CELL_FIELDS if k in r} for r in SLICE if not _other_host(r)]
    output = tmp_path_factory.mktemp("matrix") / "slice.jsonl"
    return {cell_key(r): r for r in run_matrix(cells, output, jobs=2, timeout_s=600)}


def test_the_slice_covers_every_suite():
    assert {r["suite"] for r in SLICE if r["target"] == "llvm-cpu"} == set(PER_SUITE)
    cuda = {r["suite"] for r in SLICE if r["target"] == "cuda"}
    assert cuda == (set(CUDA_PER_SUITE) if CUDA_REPORTS else set())


@pytest.mark.parametrize("committed", [_param(r) for r in SLICE])
def test_cell_ends_as_committed(committed, rerun):
    got = rerun[cell_key(committed)]
    if committed["status"] not in PASSING and got["status"] not in PASSING:
        assert (got["status"], got["error_class"]) == (
            committed["status"],
            committed["error_class"],
        ), f"now {got['status']} at {got['stage']}: {got['error']}"
        raise StillFailing(got["error_class"])
    # a pass (or, for cuda, an assembled cell) as committed; a committed failure that
    # passes now gets here too, and is the strict xfail's XPASS
    want = committed["status"] if committed["status"] in PASSING else got["status"]
    assert got["status"] in PASSING and got["status"] == want, (
        f"{got['status']} at {got['stage']}: {got['error']}"
    )
