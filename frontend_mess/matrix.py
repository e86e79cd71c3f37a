"""`frontend-mess matrix`: sources × import paths × targets, each cell in its own process with
a time and a memory limit, several at once, results appended as each cell ends (so a killed
run resumes), and a Markdown summary; `--compare` diffs two runs.

Suites: `torchvision` (every classification model), `hf-tiny` (tests/data/hf-tiny configs),
`onnx-models` (the models the `onnx` wheel ships). Not yet here: the `onnx-node` conformance
suite, the ONNX Backend adapter and the HTML page (issue 5 is open).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import FrontendError
from .lowering import VIAS
from .progress import QUIET, Progress
from .targets import target_spec
from .versions import frontend_mess_version, tool_versions

SUITES = ("torchvision", "hf-tiny", "onnx-models")
DEFAULT_TIMEOUT_S = 900
DEFAULT_MEMORY_GB = 16
HF_TINY_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "hf-tiny"


def suite_sources(suite: str, max_params_m: float | None = None) -> list[str]:
    if suite == "torchvision":
        from torchvision import models

        names = sorted(models.list_models(module=models))
        if max_params_m is not None:
            names = [
                n
                for n in names
                if models.get_model_weights(n).DEFAULT.meta["num_params"] <= max_params_m * 1e6
            ]
        return names
    if suite == "hf-tiny":
        return [f"hf-config:{p}" for p in sorted(HF_TINY_DIR.glob("*.json"))]
    if suite == "onnx-models":
        import onnx

        root = Path(onnx.__file__).parent / "backend" / "test" / "data"
        return [
            str(p)
            for s in ("light", "simple", "pytorch-converted", "pytorch-operator")
            for p in sorted((root / s).rglob("*.onnx"))
        ]
    raise FrontendError(f"unknown suite {suite!r}: use one of {', '.join(SUITES)}")


def cells(
    suites: list[str],
    paths: list[str],
    targets: list[str],
    *,
    limit: int | None = None,
    max_params_m: float | None = None,
) -> list[dict]:
    out = []
    for suite in suites:
        sources = suite_sources(suite, max_params_m)[:limit]
        for source in sources:
            for path in ["onnx"] if suite == "onnx-models" else paths:
                for target in targets:
                    out.append(
                        {
                            "suite": suite,
                            "source": source,
                            "path": path,
                            "target": target,
                            "compile_only": target == "cuda",
                        }
                    )
    return out


def cell_key(cell: dict) -> tuple:
    return (cell["suite"], cell["source"], cell["path"], cell["target"])


def failed(cell: dict, status: str, error: str, error_class: str) -> dict:
    """The record of a cell whose process gave no record of its own."""
    return {
        **cell,
        "status": status,
        "stage": "",
        "error": error[:400],
        "error_class": error_class,
        "max_rel_error": None,
        "seconds": {},
    }


def run_one(cell: dict, timeout_s: int, memory_gb: float) -> dict:
    # The cell limits its own address space (matrix_cell.limit_memory): a preexec_fn would do it
    # in the forked child, which is unsafe while this process runs threads.
    command = [sys.executable, "-m", "frontend_mess.matrix_cell", json.dumps(cell), str(memory_gb)]
    env = {**os.environ, "CI": "1"}
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return failed(cell, "timeout", f"over {timeout_s} s", "timeout")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode == 0 and lines:
        return json.loads(lines[-1])
    tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    if done.returncode < 0:
        return failed(cell, "crash", "killed (out of memory?)", f"signal {-done.returncode}")
    return failed(cell, "crash", tail, "crash")


@functools.cache
def _versions() -> dict[str, str]:
    return {"frontend-mess": frontend_mess_version(), **tool_versions()}


def context(cell: dict) -> dict:
    """What a record needs to be read later on its own: the tool versions and the flags."""
    return {"versions": _versions(), "flags": list(target_spec(cell["target"]).flags)}


def read_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_matrix(
    todo: list[dict],
    output: Path,
    *,
    jobs: int = 2,
    resume: bool = True,
    rerun_failures: bool = False,
    timeout_s: int = DEFAULT_TIMEOUT_S,
    memory_gb: float = DEFAULT_MEMORY_GB,
    progress: Progress = QUIET,
) -> list[dict]:
    """Run the cells not yet in `output` (all of them without `resume`); append each result
    as soon as it exists. Returns every record in `output` afterwards."""
    previous = read_results(output) if resume else []
    if not resume and output.exists():
        output.unlink()
    keep = {cell_key(r): r for r in previous if not (rerun_failures and r["status"] != "pass")}
    if rerun_failures:
        output.write_text("".join(json.dumps(r) + "\n" for r in keep.values()))
    pending = [c for c in todo if cell_key(c) not in keep]
    lock = threading.Lock()
    done = 0

    def work(cell: dict) -> None:
        nonlocal done
        record = {**run_one(cell, timeout_s, memory_gb), **context(cell)}
        with lock:
            with output.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            done += 1
            progress.note(
                f"[{done}/{len(pending)}] {record['status']:>12}  {cell['path']:<12} "
                f"{cell['source']}"
            )

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(work, pending))
    return read_results(output)


def summary_markdown(records: list[dict]) -> str:
    lines = ["# Matrix summary", "", f"{len(records)} cells.", ""]
    for field in ("path", "suite"):
        groups: dict[str, Counter] = defaultdict(Counter)
        for r in records:
            groups[r[field]][r["status"]] += 1
        lines += [
            f"## Pass rate by {field}",
            "",
            f"| {field} | pass | cells | rate |",
            "| --- | --- | --- | --- |",
        ]
        for key, counts in sorted(groups.items()):
            total = sum(counts.values())
            lines.append(
                f"| {key} | {counts['pass']} | {total} | {100 * counts['pass'] / total:.0f}% |"
            )
        lines.append("")
    classes = Counter(r["error_class"] for r in records if r["status"] != "pass")
    lines += ["## Top error classes", "", "| error class | cells |", "| --- | --- |"]
    lines += [f"| `{k}` | {n} |" for k, n in classes.most_common(15)]
    return "\n".join(lines) + "\n"


def compare_runs(old: list[dict], new: list[dict]) -> str:
    before = {cell_key(r): r["status"] for r in old}
    after = {cell_key(r): r["status"] for r in new}
    fixed = sorted(k for k in after if after[k] == "pass" and before.get(k, "pass") != "pass")
    broke = sorted(k for k in after if after[k] != "pass" and before.get(k) == "pass")
    lines = [
        f"newly passing: {len(fixed)}",
        *(f"  + {' '.join(k)}" for k in fixed),
        f"newly failing: {len(broke)}",
        *(f"  - {' '.join(k)} ({after[k]})" for k in broke),
    ]
    return "\n".join(lines) + "\n"


__all__ = ["SUITES", "VIAS", "cells", "compare_runs", "run_matrix", "summary_markdown"]
