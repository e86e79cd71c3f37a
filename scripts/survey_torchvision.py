"""Import every torchvision classification model to one output kind, each in its own process,
and write one JSON line per model: the evidence behind notes/torchvision.md.

    uv run python scripts/survey_torchvision.py --to linalg -o reports/torchvision-linalg.jsonl
    uv run python scripts/survey_torchvision.py --families \
        -o reports/torchvision-families-linalg.jsonl

Models already in the output file are skipped, so a killed run resumes where it stopped.
(The full matrix of paths and targets is `frontend-mess matrix`; this is the import-only view.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from frontend_mess.importers.torchvision_models import families, family_of, model_names


def survey(name: str, kind: str, timeout: int) -> dict:
    start = time.perf_counter()
    command = [sys.executable, "-m", "frontend_mess", "import", name, "--to", kind, "--stats", "-q"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"model": name, "status": "timeout", "seconds": timeout, "error": ""}
    seconds = round(time.perf_counter() - start, 1)
    if done.returncode == 0:
        ops = sum(int(line.split()[0]) for line in done.stdout.splitlines() if line.strip())
        torch_ops = sum(1 for line in done.stdout.splitlines() if " torch." in line)
        return {
            "model": name,
            "family": family_of(name),
            "status": "pass" if not torch_ops else "torch-ops-left",
            "seconds": seconds,
            "ops": ops,
            "error": "",
        }
    lines = done.stderr.strip().splitlines()
    error = lines[-1] if lines else f"exit {done.returncode}"
    return {
        "model": name,
        "family": family_of(name),
        "status": "fail",
        "seconds": seconds,
        "error": error[:400],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", default="linalg")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument(
        "--families", action="store_true", help="segmentation, video, ... instead of classification"
    )
    parser.add_argument("models", nargs="*", help="default: every classification model")
    args = parser.parse_args()
    done = set()
    if args.output.exists():
        done = {json.loads(line)["model"] for line in args.output.read_text().splitlines()}
    every = [n for names in families().values() for n in names] if args.families else model_names()
    for name in args.models or every:
        if name in done:
            continue
        record = survey(name, args.to, args.timeout)
        with args.output.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(f"{record['status']:>8} {record['seconds']:>7}s {name} {record['error']}", flush=True)


if __name__ == "__main__":
    main()
