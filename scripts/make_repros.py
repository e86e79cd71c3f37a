"""Run `frontend-mess reduce` on one cell of each distinct failure of a committed report and
keep the repro directories under reports/repros/ (issue 14).

    uv run python scripts/make_repros.py [--report reports/matrix-onnx-models.jsonl]
    uv run python scripts/make_repros.py --report reports/matrix-onnx-node.jsonl

One cell per (path, status, stage, error class): the first in the report; a class that has a
repro already (from another report) keeps it. An onnx-node case is its own repro (reduce
writes it with its data set, uncut); a cell of an FX path or turbine is reduced as the MLIR
of its failing compile or lower stage (model.mlir). A repro whose
model is over MAX_BYTES (a failure that needs a large graph's weights) is left out and said.
reports/repros/index.json lists every class, its repro directory or why there is none.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from frontend_mess.support.atomic import write_atomically

ROOT = Path(__file__).resolve().parents[1]
REPROS = ROOT / "reports" / "repros"
MAX_BYTES = 1_000_000
FAILED = ("import-fail", "lower-fail", "compile-fail", "run-fail", "mismatch", "crash")


def slug(record: dict) -> str:
    text = f"{record['path']}-{record['status']}-{record['stage']}-{record['error_class']}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120].strip("_")


def _model_file(directory: Path) -> Path:
    """The repro's model: an ONNX graph, or an MLIR function (an FX path's stage)."""
    onnx_file = directory / "model.onnx"
    return onnx_file if onnx_file.exists() else directory / "model.mlir"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=ROOT / "reports/matrix-onnx-models.jsonl")
    parser.add_argument("--timeout", type=int, default=300)
    args = parser.parse_args()
    seen: dict[tuple, int] = {}
    lines = args.report.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        record = json.loads(line)
        if record["status"] in FAILED:
            key = (record["path"], record["status"], record["stage"], record["error_class"])
            seen.setdefault(key, number)
    REPROS.mkdir(parents=True, exist_ok=True)
    index_path = REPROS / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    for number in seen.values():
        record = json.loads(lines[number - 1])
        name = slug(record)
        if name in index:
            continue
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / name
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "frontend_mess",
                    "reduce",
                    "--cell",
                    f"{args.report}:{number}",
                    "-o",
                    str(out),
                    "-q",
                    "--timeout",
                    str(args.timeout),
                ],
                capture_output=True,
                text=True,
            )
            entry = {
                "cell": {k: record[k] for k in ("suite", "source", "path", "target")},
                "status": record["status"],
                "error_class": record["error_class"],
            }
            if done.returncode != 0:
                entry["repro"] = None
                entry["why"] = (done.stderr.strip().splitlines() or ["?"])[-1][:300]
            elif _model_file(out).stat().st_size > MAX_BYTES:
                entry["repro"] = None
                entry["why"] = f"the reduced model is over {MAX_BYTES:,} bytes"
            else:
                shutil.rmtree(REPROS / name, ignore_errors=True)  # an interrupted run's
                shutil.copytree(out, REPROS / name)
                entry["repro"] = name
                entry["summary"] = done.stdout.strip().replace(f"{out}/", name + "/")
        index[name] = entry
        text = (json.dumps(index, indent=1, sort_keys=True) + "\n").encode()
        write_atomically(index_path, lambda handle, text=text: handle.write(text))
        print(f"{name}: {entry.get('summary') or entry.get('why')}", flush=True)


if __name__ == "__main__":
    main()
